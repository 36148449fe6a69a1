"""Templates: the shipped files, publishing versions, typed variables, the sandbox."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError, UndefinedError
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from mindlinks.contracts.models import ContractTemplate
from mindlinks.contracts.rendering import render_body, render_contract_html
from mindlinks.contracts.templates import (
    TEMPLATE_DIR,
    TemplateFileInvalid,
    parse_template_text,
    sync_templates,
    template_files,
    validate_variables,
)
from mindlinks.platform.errors import InvalidFields
from tests.contracts.factories import (
    DIRECT_KEY,
    EOR_KEY,
    client_company,
    linked_contractor,
    make_contract,
    make_template,
)

HEADER = '{#- mindlinks-template\n{"name": "T", "kind": "direct", "variables": %s}\n-#}\n'


def _fields(exc: pytest.ExceptionInfo[InvalidFields]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in exc.value.errors or []}


def test_two_templates_ship_one_of_each_kind_with_typed_variables() -> None:
    files = {f.key: f for f in template_files()}
    assert set(files) == {DIRECT_KEY, EOR_KEY}
    assert files[DIRECT_KEY].metadata.kind == "direct"
    assert files[EOR_KEY].metadata.kind == "eor"
    for shipped in files.values():
        assert shipped.metadata.signing_order == "sequential"
        names = {v.name for v in shipped.metadata.variables}
        assert {"governing_law", "notice_days"} <= names
        text_ = shipped.text
        for section in (
            "Services",
            "Term",
            "Fees and payment terms",
            "Invoicing",
            "Intellectual property",
            "Confidentiality",
            "Data protection",
            "Limitation of liability",
            "Termination",
            "Governing law",
            "Entire agreement",
            "Signatures",
        ):
            assert section in text_, (shipped.key, section)
    assert "Independent contractor status" in files[DIRECT_KEY].text
    assert "Employer-of-record arrangement" in files[EOR_KEY].text


def test_sync_publishes_each_file_once_and_again_only_when_it_changes(
    session: Session, tmp_path: Path
) -> None:
    directory = tmp_path / "templates"
    shutil.copytree(TEMPLATE_DIR, directory)
    first = sync_templates(session, directory)
    again = sync_templates(session, directory)
    assert [t.id for t in first] == [t.id for t in again]
    direct_v1 = next(t for t in first if t.key == DIRECT_KEY)

    path = directory / f"{DIRECT_KEY}.html"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "<h2>1. Services</h2>", "<h2>1. The Services</h2>"
        ),
        encoding="utf-8",
    )
    published = {t.key: t for t in sync_templates(session, directory)}
    direct_v2 = published[DIRECT_KEY]
    assert direct_v2.id != direct_v1.id
    assert direct_v2.version == direct_v1.version + 1
    assert published[EOR_KEY].id == next(t.id for t in first if t.key == EOR_KEY)
    versions = session.scalar(select(func.count()).where(ContractTemplate.key == DIRECT_KEY))
    assert versions == direct_v2.version
    session.refresh(direct_v1)
    assert "<h2>1. Services</h2>" in direct_v1.body  # the published version is untouched


def test_an_old_contract_renders_with_its_own_version(session: Session, tmp_path: Path) -> None:
    directory = tmp_path / "templates"
    shutil.copytree(TEMPLATE_DIR, directory)
    v1 = {t.key: t for t in sync_templates(session, directory)}[DIRECT_KEY]
    company, owner = client_company(session)
    contractor = linked_contractor(session, company)
    old = make_contract(session, company=company, client=owner, contractor=contractor, template=v1)
    path = directory / f"{DIRECT_KEY}.html"
    path.write_text(
        path.read_text(encoding="utf-8").replace("<h2>2. Term</h2>", "<h2>2. Duration</h2>"),
        encoding="utf-8",
    )
    v2 = {t.key: t for t in sync_templates(session, directory)}[DIRECT_KEY]
    new = make_contract(session, company=company, client=owner, contractor=contractor, template=v2)
    assert "<h2>2. Term</h2>" in render_contract_html(session, old)
    assert "<h2>2. Duration</h2>" in render_contract_html(session, new)


def test_the_database_refuses_to_change_a_published_version(session: Session) -> None:
    template = make_template(session)
    with pytest.raises((IntegrityError, DBAPIError)), session.begin_nested():
        session.execute(
            text("UPDATE contract_templates SET body = 'changed' WHERE id = :id"),
            {"id": template.id},
        )


@pytest.mark.parametrize(
    ("text_", "reason"),
    [
        ("<h1>No header</h1>", "must open with"),
        (HEADER % '[{"name": "x", "type": "float", "label": "X"}]', "bad metadata"),
        (HEADER % '[{"name": "x", "type": "choice", "label": "X"}]', "needs choices"),
        (
            HEADER % '[{"name": "x", "type": "integer", "label": "X", "default": "ten"}]',
            "default of x",
        ),
        (HEADER % "[]" + "{% if %}", "<string>:4: Expected an expression"),
    ],
)
def test_a_malformed_template_file_is_refused_with_the_reason(text_: str, reason: str) -> None:
    with pytest.raises(TemplateFileInvalid, match=reason):
        parse_template_text("broken", text_)


def _typed_template(session: Session) -> ContractTemplate:
    template = make_template(session, body="<p>{{ variables.notice_days }}</p>")
    template_text = (
        HEADER
        % """[
        {"name": "governing_law", "type": "string", "label": "Law", "required": true,
         "max_length": 20},
        {"name": "notice_days", "type": "integer", "label": "Notice", "required": true,
         "default": 30, "min": 1, "max": 365},
        {"name": "sign_by", "type": "date", "label": "Sign by"},
        {"name": "cap", "type": "choice", "label": "Cap", "choices": ["low", "high"],
         "default": "low"}
    ]"""
    )
    parsed = parse_template_text("typed", template_text)
    # The ORM row is never updated: a fresh one carries the typed variables.
    row = ContractTemplate(
        key="typed-vars",
        version=1,
        name="Typed",
        kind="direct",
        signing_order="sequential",
        body=template.body,
        variables=[v.model_dump(exclude_none=True) for v in parsed.metadata.variables],
        body_sha256=template.body_sha256,
    )
    session.add(row)
    session.flush()
    return row


def test_variables_get_their_defaults_and_normalised_values(session: Session) -> None:
    template = _typed_template(session)
    values = validate_variables(
        template, {"governing_law": "  England   and Wales ", "sign_by": "2027-02-28"}
    )
    assert values == {
        "governing_law": "England and Wales",
        "notice_days": 30,
        "sign_by": "2027-02-28",
        "cap": "low",
    }


def test_every_bad_variable_is_named_at_once(session: Session) -> None:
    template = _typed_template(session)
    with pytest.raises(InvalidFields) as exc:
        validate_variables(
            template,
            {
                "governing_law": "x" * 21,
                "notice_days": 10.0,
                "sign_by": "2027-02-30",
                "cap": "medium",
                "surprise": 1,
            },
        )
    assert exc.value.status == 422
    fields = _fields(exc)
    assert set(fields) == {
        "variables.governing_law",
        "variables.notice_days",
        "variables.sign_by",
        "variables.cap",
        "variables.surprise",
    }
    assert "at most 20" in fields["variables.governing_law"]
    assert "integer" in fields["variables.notice_days"]
    assert "not a real calendar date" in fields["variables.sign_by"]
    assert "low, high" in fields["variables.cap"]
    assert "not a variable" in fields["variables.surprise"]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({}, "variables.governing_law", "is required"),
        ({"governing_law": "   "}, "variables.governing_law", "is required"),
        ({"governing_law": 5}, "variables.governing_law", "must be text"),
        ({"governing_law": "E", "notice_days": True}, "variables.notice_days", "integer"),
        ({"governing_law": "E", "notice_days": "30"}, "variables.notice_days", "integer"),
        ({"governing_law": "E", "notice_days": 0}, "variables.notice_days", "at least 1"),
        ({"governing_law": "E", "notice_days": 366}, "variables.notice_days", "at most 365"),
        ({"governing_law": "E", "sign_by": "1 March 2027"}, "variables.sign_by", "YYYY-MM-DD"),
        ({"governing_law": "E", "sign_by": 20270301}, "variables.sign_by", "YYYY-MM-DD"),
    ],
)
def test_each_type_rule(
    session: Session, values: dict[str, object], field: str, message: str
) -> None:
    template = _typed_template(session)
    with pytest.raises(InvalidFields) as exc:
        validate_variables(template, values)
    assert message in _fields(exc)[field]


def test_variables_must_be_an_object(session: Session) -> None:
    with pytest.raises(InvalidFields) as exc:
        validate_variables(_typed_template(session), ["governing_law"])
    assert "variables" in _fields(exc)


def test_templates_render_in_a_sandbox_that_refuses_python_internals(session: Session) -> None:
    template = make_template(session, body="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(SecurityError):
        render_body(template, {})


def test_an_unknown_template_variable_fails_loudly(session: Session) -> None:
    template = make_template(session, body="<p>{{ variables.no_such_thing }}</p>")
    with pytest.raises(UndefinedError):
        render_body(template, {"variables": {}})


def test_values_are_escaped_not_interpreted(session: Session) -> None:
    template = make_template(session, body="<p>{{ contract.title }}</p>")
    html = render_body(template, {"contract": {"title": "<script>alert(1)</script>"}})
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
