"""Contract templates: the shipped files, their typed variables, and publishing them.

Each file in `template_files/` (`<key>.html`) is a Jinja2 HTML document body that
opens with a metadata comment, so the file renders as is and its metadata is
part of what a version pins:

    {#- mindlinks-template
    {"name": "...", "kind": "direct" | "eor", "signing_order": "sequential" | "parallel",
     "variables": [{"name", "type": "string"|"integer"|"date"|"choice", "label",
                    "required"?, "default"?, "choices"?, "min"?, "max"?, "max_length"?,
                    "help"?}]}
    -#}

`sync_templates(session)` publishes the files: a file whose text (SHA-256) differs
from the latest version of its key becomes version + 1. A published version never
changes (the database refuses UPDATE of `contract_templates` by trigger), so a
contract renders with the very text it was created from, however the file moves on.

`validate_variables` checks a contract's variable values against the template's
declared types, answering 422 with one error per field (`variables.<name>`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mindlinks.contracts import repository
from mindlinks.contracts.models import ContractTemplate
from mindlinks.platform.clock import now
from mindlinks.platform.errors import InvalidFields

log = structlog.get_logger(__name__)

TEMPLATE_DIR: Final = Path(__file__).parent / "template_files"
TEMPLATE_SUFFIX: Final = ".html"
ROLES_BY_KIND: Final[dict[str, tuple[str, ...]]] = {
    "direct": ("client", "contractor"),
    "eor": ("client", "contractor", "eor"),
}
DEFAULT_STRING_MAX: Final = 500
_HEADER = re.compile(r"\A\{#-?\s*mindlinks-template\s*(?P<json>\{.*?\})\s*-?#\}", re.DOTALL)
_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")

VariableType = Literal["string", "integer", "date", "choice"]


class TemplateFileInvalid(RuntimeError):
    """A shipped template file is malformed: a packaging error, never a user's."""


class VariableSpec(BaseModel):
    """One typed variable a template declares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    type: VariableType
    label: str = Field(min_length=1, max_length=200)
    required: bool = False
    default: str | int | None = None
    choices: list[str] | None = None
    min: int | None = None
    max: int | None = None
    max_length: int | None = Field(default=None, ge=1, le=10_000)
    help: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> VariableSpec:
        if self.type == "choice" and not self.choices:
            raise ValueError(f"choice variable {self.name} needs choices")
        if self.type != "choice" and self.choices is not None:
            raise ValueError(f"only a choice variable has choices ({self.name})")
        if self.default is not None:
            problem = _check_value(self, self.default)[1]
            if problem:
                raise ValueError(f"default of {self.name} {problem}")
        return self


class TemplateMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["direct", "eor"]
    signing_order: Literal["sequential", "parallel"] = "sequential"
    variables: list[VariableSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> TemplateMetadata:
        names = [v.name for v in self.variables]
        if len(names) != len(set(names)):
            raise ValueError("variable names must be unique")
        return self


@dataclass(frozen=True)
class TemplateFile:
    key: str
    path: Path
    text: str
    sha256: str
    metadata: TemplateMetadata


def signing_roles(kind: str) -> tuple[str, ...]:
    """The roles that sign a contract of this template kind, in sequential order."""
    return ROLES_BY_KIND[kind]


def parse_template_text(key: str, text: str, *, source: str = "<string>") -> TemplateFile:
    """A template's metadata and text; `TemplateFileInvalid` naming what is wrong."""
    if not _KEY.fullmatch(key):
        raise TemplateFileInvalid(f"{source}: template key {key!r} must match {_KEY.pattern}")
    match = _HEADER.match(text)
    if match is None:
        raise TemplateFileInvalid(f"{source}: must open with a {{#- mindlinks-template ... #}}")
    try:
        metadata = TemplateMetadata.model_validate(json.loads(match.group("json")))
    except (ValueError, ValidationError) as exc:
        raise TemplateFileInvalid(f"{source}: bad metadata: {exc}") from exc
    # Imported here: rendering imports this module for the roles.
    from mindlinks.contracts.rendering import check_template_syntax

    check_template_syntax(text, source=source)
    return TemplateFile(
        key=key,
        path=Path(source),
        text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        metadata=metadata,
    )


def template_files(directory: Path = TEMPLATE_DIR) -> list[TemplateFile]:
    """Every shipped template file, by key."""
    found = []
    for path in sorted(directory.glob(f"*{TEMPLATE_SUFFIX}")):
        key = path.name.removesuffix(TEMPLATE_SUFFIX)
        found.append(parse_template_text(key, path.read_text(encoding="utf-8"), source=str(path)))
    return found


def sync_templates(session: Session, directory: Path = TEMPLATE_DIR) -> list[ContractTemplate]:
    """Publish every template file whose text changed as a new version; the latest
    version of each shipped key, in key order. Flushes, never commits.

    Safe to run from several processes at once (`serve` and `migrate`): the
    unique (key, version) constraint lets one insert win; the other finds it.
    """
    published: list[ContractTemplate] = []
    for template_file in template_files(directory):
        published.append(_publish(session, template_file))
    return published


def _publish(session: Session, template_file: TemplateFile) -> ContractTemplate:
    for _ in range(3):
        latest = repository.latest_template_version(session, template_file.key)
        if latest is not None and latest.body_sha256 == template_file.sha256:
            return latest
        metadata = template_file.metadata
        row = ContractTemplate(
            key=template_file.key,
            version=(latest.version + 1) if latest is not None else 1,
            name=metadata.name,
            kind=metadata.kind,
            signing_order=metadata.signing_order,
            body=template_file.text,
            variables=[v.model_dump(exclude_none=True) for v in metadata.variables],
            body_sha256=template_file.sha256,
            published_at=now(),
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # Another process published this key's next version first; look again.
            continue
        log.info(
            "contract_template_published",
            key=row.key,
            version=row.version,
            template_id=row.id,
        )
        return row
    raise RuntimeError(f"could not publish template {template_file.key}: versions keep racing")


# --- variables -----------------------------------------------------------------


def variable_specs(template: ContractTemplate) -> list[VariableSpec]:
    return [VariableSpec.model_validate(raw) for raw in template.variables or []]


def validate_variables(
    template: ContractTemplate, raw: object, *, field_prefix: str = "variables"
) -> dict[str, Any]:
    """Every declared variable's value (defaults applied, None when optional and
    absent), checked against its type; `InvalidFields` with all problems at once.

    Dates are kept as `YYYY-MM-DD` strings (the JSON column's form)."""
    errors: list[dict[str, str]] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InvalidFields(
            f"{field_prefix}: must be an object of variable values",
            errors=[{"field": field_prefix, "message": "must be an object of variable values"}],
        )
    specs = variable_specs(template)
    declared = {spec.name for spec in specs}
    for name in raw:
        if name not in declared:
            errors.append(
                {
                    "field": f"{field_prefix}.{name}",
                    "message": "is not a variable of this template",
                }
            )
    values: dict[str, Any] = {}
    for spec in specs:
        value = raw.get(spec.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            value = spec.default
        if value is None:
            if spec.required:
                errors.append({"field": f"{field_prefix}.{spec.name}", "message": "is required"})
            values[spec.name] = None
            continue
        checked, problem = _check_value(spec, value)
        if problem:
            errors.append({"field": f"{field_prefix}.{spec.name}", "message": problem})
        values[spec.name] = checked
    if errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise InvalidFields(detail, errors=errors)
    return values


def _check_value(spec: VariableSpec, value: object) -> tuple[Any, str | None]:
    """(the normalised value, None) or (None, why it is refused)."""
    if spec.type == "string":
        if not isinstance(value, str):
            return None, "must be text"
        text = " ".join(value.split()) if "\n" not in value else value.strip()
        limit = spec.max_length or DEFAULT_STRING_MAX
        if len(text) > limit:
            return None, f"must be at most {limit} characters"
        return text, None
    if spec.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return None, "must be a whole number written as an integer"
        if spec.min is not None and value < spec.min:
            return None, f"must be at least {spec.min}"
        if spec.max is not None and value > spec.max:
            return None, f"must be at most {spec.max}"
        return value, None
    if spec.type == "date":
        if not isinstance(value, str) or not _DATE_SHAPE.fullmatch(value):
            return None, "must be a date in YYYY-MM-DD form"
        try:
            return date.fromisoformat(value).isoformat(), None
        except ValueError:
            return None, f"{value} is not a real calendar date"
    assert spec.choices is not None
    if not isinstance(value, str) or value not in spec.choices:
        return None, f"must be one of: {', '.join(spec.choices)}"
    return value, None


def typed_variable_values(template: ContractTemplate, stored: Mapping[str, Any]) -> dict[str, Any]:
    """Stored values as the template sees them: every declared name present (None
    when unset), dates as `date` objects for the `long_date` filter."""
    values: dict[str, Any] = {}
    for spec in variable_specs(template):
        value = stored.get(spec.name)
        if spec.type == "date" and isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                value = None
        values[spec.name] = value
    # Values stored for names the template does not declare (a test factory's
    # free-form variables) stay visible too.
    for name, value in stored.items():
        values.setdefault(name, value)
    return values


def template_roles(template: ContractTemplate) -> Sequence[str]:
    return signing_roles(template.kind)
