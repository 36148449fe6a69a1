"""The draft contract form: what the page shows, and turning what it posts into the
arguments of `contracts.service.create_draft` / `edit_draft`.

People type money in major units ("5000.50"), while the service takes integer
minor units: the conversion goes through `Decimal` with the currency's ISO 4217
exponent, never a float, and refuses more decimals than the currency has.
Every rule about the terms stays the service's: this module only reshapes the
form, and maps the service's field names (`payment_terms.milestones.1.due_date`)
back to the inputs they came from (`m1_due`), so each error sits above its input.

Milestones are a fixed number of rows; an "add rows" button posts the form back
with more (no script needed). Empty rows are ignored; rows are renumbered when
they are sent, so the service's milestone indexes are mapped back through
`DraftForm.milestone_rows`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from mindlinks.contracts.models import Contract, ContractTemplate
from mindlinks.contracts.templates import VariableSpec, variable_specs
from mindlinks.contracts.terms import CYCLES
from mindlinks.platform.errors import Problem
from mindlinks.platform.money import UnknownCurrency, minor_unit_exponent

TITLE_MAX: Final = 200
SCOPE_MAX: Final = 20_000
MILESTONE_ROWS: Final = 3
MILESTONE_ROWS_MAX: Final = 100
ADD_ROWS: Final = 3
PAYMENT_TYPES: Final = ("fixed", "hourly", "milestones")
COMMON_CURRENCIES: Final = ("EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "PLN", "INR")
CYCLE_LABELS: Final[Mapping[str, str]] = {
    "weekly": "Every week",
    "biweekly": "Every two weeks",
    "monthly": "Every month",
}
_DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")
_AMOUNT_SHAPE = re.compile(r"\d+(\.\d+)?")
_INTEGER_SHAPE = re.compile(r"-?\d{1,12}")
_MILESTONE_FIELD = re.compile(r"payment_terms\.milestones\.(\d+)\.(title|amount_minor|due_date)")
_MILESTONE_SUFFIX: Final = {"title": "title", "amount_minor": "amount", "due_date": "due"}
# Service field -> form input, for the terms' scalar fields.
_TERMS_FIELDS: Final[Mapping[str, str]] = {
    "payment_terms": "payment_type",
    "payment_terms.type": "payment_type",
    "payment_terms.amount_minor": "amount",
    "payment_terms.rate_minor": "rate",
    "payment_terms.currency": "currency",
    "payment_terms.cycle": "cycle",
    "payment_terms.milestones": "milestones",
    "payment_terms.total_minor": "milestones",
}
FIELDS_MARKED: Final = "Please correct the fields marked below."
DRAFT_FIELDS: Final = (
    "template_id",
    "company_id",
    "contractor_id",
    "title",
    "scope",
    "start_date",
    "end_date",
    "payment_type",
    "currency",
    "cycle",
    "amount",
    "rate",
    "milestones",
)


# --- money ------------------------------------------------------------------------


def minor_units(text: str, currency: str) -> int | str:
    """`"5000.50", "EUR"` -> 500050; the reason as a string when it cannot be."""
    cleaned = text.strip().replace(" ", "").replace("_", "")
    if not cleaned:
        return "is required"
    if "," in cleaned:
        return "write the amount with a dot for decimals and no thousands separators (5000.50)"
    if not _AMOUNT_SHAPE.fullmatch(cleaned):
        return "must be an amount such as 5000 or 5000.50"
    try:
        exponent = minor_unit_exponent(currency)
    except UnknownCurrency:
        exponent = 2  # the currency's own error says what is wrong
    try:
        value = Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the shape check admits only decimals
        return "must be an amount such as 5000 or 5000.50"
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        places = "no decimals" if exponent == 0 else f"at most {exponent} decimals"
        return f"{currency or 'this currency'} amounts have {places}"
    if scaled <= 0:
        return "must be more than zero"
    return int(scaled)


def major_units(amount_minor: object, currency: object) -> str:
    """The reverse, for filling the form from a saved draft."""
    if not isinstance(amount_minor, int) or not isinstance(currency, str):
        return ""
    try:
        exponent = minor_unit_exponent(currency)
    except UnknownCurrency:
        return str(amount_minor)
    value = Decimal(amount_minor).scaleb(-exponent)
    return f"{value:.{exponent}f}"


def _parse_date(text: str) -> date | None:
    if not _DATE_SHAPE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# --- the form's inputs ----------------------------------------------------------------


@dataclass(frozen=True)
class VariableInput:
    """One template variable as a typed input."""

    spec: VariableSpec

    @property
    def name(self) -> str:
        return f"var_{self.spec.name}"

    @property
    def input_type(self) -> str:
        return {"integer": "number", "date": "date"}.get(self.spec.type, "text")

    @property
    def default_text(self) -> str:
        return "" if self.spec.default is None else str(self.spec.default)


def variable_inputs(template: ContractTemplate) -> list[VariableInput]:
    return [VariableInput(spec) for spec in variable_specs(template)]


def initial_values(template: ContractTemplate) -> dict[str, str]:
    """A new draft's form: the template's defaults, monthly fixed terms in EUR."""
    values = {
        "template_id": template.id,
        "payment_type": "fixed",
        "currency": "EUR",
        "cycle": "monthly",
    }
    for variable in variable_inputs(template):
        values[variable.name] = variable.default_text
    return values


def values_of_contract(contract: Contract, template: ContractTemplate) -> dict[str, str]:
    """A saved draft as the form shows it."""
    terms: Mapping[str, Any] = contract.payment_terms or {}
    currency = str(terms.get("currency", ""))
    values = {
        "template_id": template.id,
        "company_id": contract.company_id,
        "contractor_id": contract.contractor_id,
        "title": contract.title,
        "scope": contract.scope,
        "start_date": contract.start_date.isoformat(),
        "end_date": contract.end_date.isoformat() if contract.end_date else "",
        "payment_type": str(terms.get("type", "fixed")),
        "currency": currency,
        "cycle": str(terms.get("cycle", "monthly")),
        "amount": major_units(terms.get("amount_minor"), currency),
        "rate": major_units(terms.get("rate_minor"), currency),
    }
    for index, milestone in enumerate(terms.get("milestones") or []):
        values[f"m{index}_title"] = str(milestone.get("title", ""))
        values[f"m{index}_amount"] = major_units(milestone.get("amount_minor"), currency)
        values[f"m{index}_due"] = str(milestone.get("due_date", ""))
    stored = contract.variables or {}
    for variable in variable_inputs(template):
        value = stored.get(variable.spec.name)
        values[variable.name] = variable.default_text if value is None else str(value)
    return values


def milestone_row_count(values: Mapping[str, str], *, add: bool = False) -> int:
    """Rows to show: every row that holds something and one spare (at least
    `MILESTONE_ROWS`), or `ADD_ROWS` more when asked for."""
    used = 0
    for index in range(MILESTONE_ROWS_MAX):
        if any(values.get(f"m{index}_{part}") for part in ("title", "amount", "due")):
            used = index + 1
    # Asked for more: ADD_ROWS after the last one used; else one spare row.
    rows = max(MILESTONE_ROWS, used) + ADD_ROWS if add else max(MILESTONE_ROWS, used + 1)
    return min(rows, MILESTONE_ROWS_MAX)


# --- parsing a posted form ------------------------------------------------------------


@dataclass
class DraftForm:
    """A posted draft form: the raw values (to show again), the service's
    arguments, and the problems found before the service was asked."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    start_date: date | None = None
    end_date: date | None = None
    payment_terms: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    # The form row of each milestone sent, by the index the service sees.
    milestone_rows: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def service_fields(self) -> dict[str, Any]:
        assert self.start_date is not None
        return {
            "title": self.values.get("title", "").strip(),
            "scope": self.values.get("scope", "").strip(),
            "start_date": self.start_date,
            "end_date": self.end_date,
            "payment_terms": self.payment_terms,
            "variables": self.variables,
        }

    def input_of(self, service_field: str) -> str | None:
        """The form input a service error names, or None for the form as a whole."""
        if service_field in _TERMS_FIELDS:
            return _TERMS_FIELDS[service_field]
        match = _MILESTONE_FIELD.fullmatch(service_field)
        if match:
            index = int(match.group(1))
            if index < len(self.milestone_rows):
                return f"m{self.milestone_rows[index]}_{_MILESTONE_SUFFIX[match.group(2)]}"
            return "milestones"
        if service_field.startswith("payment_terms.milestones."):
            return "milestones"
        if service_field.startswith("variables."):
            return "var_" + service_field.removeprefix("variables.")
        if service_field in DRAFT_FIELDS:
            return service_field
        return None

    def absorb(self, problem: Problem) -> str:
        """Put the service's field errors next to their inputs (a message found
        here first stays: it says what the form itself could not read); answer
        the summary for the top of the form."""
        unplaced: list[str] = []
        for error in problem.errors or []:
            name = error.get("field", "")
            message = error.get("message", "is not valid")
            target = self.input_of(name)
            if target is None:
                unplaced.append(f"{name}: {message}" if name else message)
            else:
                self.errors.setdefault(target, message)
        if unplaced:
            return "; ".join(unplaced)
        if self.errors:
            return FIELDS_MARKED
        return problem.detail


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def read_draft_form(form: Mapping[str, Any], template: ContractTemplate | None) -> DraftForm:
    """The posted draft form as service arguments (see `DraftForm`)."""
    names = list(DRAFT_FIELDS)
    variables = variable_inputs(template) if template is not None else []
    names += [v.name for v in variables]
    values = {name: _text(form, name) for name in names}
    for index in range(MILESTONE_ROWS_MAX):
        for part in ("title", "amount", "due"):
            key = f"m{index}_{part}"
            if key in form:
                values[key] = _text(form, key)
    draft = DraftForm(values=values)
    errors = draft.errors

    title = values["title"].strip()
    if not title:
        errors["title"] = "is required"
    elif len(title) > TITLE_MAX:
        errors["title"] = f"must be at most {TITLE_MAX} characters"
    scope = values["scope"].strip()
    if not scope:
        errors["scope"] = "describe the services (what, deliverables, where)"
    elif len(scope) > SCOPE_MAX:
        errors["scope"] = f"must be at most {SCOPE_MAX} characters"

    draft.start_date = _parse_date(values["start_date"])
    if draft.start_date is None:
        errors["start_date"] = "choose the date the contract starts (YYYY-MM-DD)"
    if values["end_date"]:
        draft.end_date = _parse_date(values["end_date"])
        if draft.end_date is None:
            errors["end_date"] = "must be a date (YYYY-MM-DD), or empty for an open-ended contract"

    draft.payment_terms = _payment_terms(values, draft)
    for variable in variables:
        draft.variables[variable.spec.name] = _variable_value(variable, values[variable.name])
    return draft


def _payment_terms(values: dict[str, str], draft: DraftForm) -> dict[str, Any]:
    """The terms object the service validates; unreadable amounts are passed on as
    text (so every other rule is still judged) and explained here."""
    kind = values["payment_type"]
    currency = values["currency"].strip().upper()
    values["currency"] = currency
    if kind not in PAYMENT_TYPES:
        draft.errors["payment_type"] = "choose fixed, hourly or milestones"
        return {"type": kind}

    def amount(name: str) -> int | str:
        parsed = minor_units(values.get(name, ""), currency)
        if isinstance(parsed, str):
            draft.errors.setdefault(name, parsed)
            return values.get(name, "")
        return parsed

    if kind == "fixed":
        return {
            "type": "fixed",
            "amount_minor": amount("amount"),
            "currency": currency,
            "cycle": values["cycle"],
        }
    if kind == "hourly":
        return {
            "type": "hourly",
            "rate_minor": amount("rate"),
            "currency": currency,
            "cycle": values["cycle"],
        }
    milestones: list[dict[str, Any]] = []
    for index in range(MILESTONE_ROWS_MAX):
        title = values.get(f"m{index}_title", "").strip()
        amount_text = values.get(f"m{index}_amount", "")
        due = values.get(f"m{index}_due", "").strip()
        if not (title or amount_text.strip() or due):
            continue
        draft.milestone_rows.append(index)
        milestones.append(
            {"title": title, "amount_minor": amount(f"m{index}_amount"), "due_date": due}
        )
    if not milestones:
        draft.errors["milestones"] = "add at least one milestone: a title, an amount and a due date"
    return {"type": "milestones", "currency": currency, "milestones": milestones}


def _variable_value(variable: VariableInput, text: str) -> Any:
    """Typed as the template declares; what does not parse goes to the service as
    text, whose message names the type expected."""
    text = text.strip()
    if not text:
        return None
    if variable.spec.type == "integer" and _INTEGER_SHAPE.fullmatch(text):
        return int(text)
    return text


def cycles() -> Sequence[tuple[str, str]]:
    return [(cycle, CYCLE_LABELS.get(cycle, cycle)) for cycle in CYCLES]
