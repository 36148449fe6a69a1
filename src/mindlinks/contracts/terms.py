"""Payment terms of a contract: their shapes and every rule they must obey.

`parse_payment_terms(raw, start_date, end_date)` is the one gate: it turns the
`payment_terms` object of a request into a typed `PaymentTerms` or raises
`InvalidFields` listing every problem at once, each under
`payment_terms.<path>` (e.g. `payment_terms.milestones.1.due_date`, 0-based).

Rules (issue 5, point 2; API.md "Contracts and signatures"):
- amounts are integers of minor units, 1 ..= 10**13: floats are refused even
  when whole (10.0), and so are booleans and numeric strings, because money
  that passed through a float once cannot be trusted to be exact;
- the currency is an active ISO 4217 code in `platform.money`, upper case;
- milestones: 1..100, titles 1..200 characters and unique (ignoring case and
  surrounding spaces), due dates in order and inside the contract period
  (`start_date ..= end_date`, or on/after `start_date` when open-ended); an
  optional `total_minor` must equal their sum;
- a fixed or hourly contract with an end date may span at most
  `MAX_SCHEDULE_PERIODS` cycle periods, so a typo in a year cannot make a
  schedule of thousands of rows;
- unknown keys are refused.

`end_date` before `start_date` is the contract's own field error (reported by
the caller under `end_date`); here it only disables the upper-bound checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Literal, NoReturn

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails

from mindlinks.platform.errors import InvalidFields
from mindlinks.platform.money import MAX_AMOUNT_MINOR, is_active_currency

FIELD_PREFIX = "payment_terms"
MAX_MILESTONES = 100
MAX_SCHEDULE_PERIODS = 1000
CYCLES: tuple[str, ...] = ("weekly", "biweekly", "monthly")
TERM_TYPES: tuple[str, ...] = ("fixed", "hourly", "milestones")

Cycle = Literal["weekly", "biweekly", "monthly"]

_CURRENCY_SHAPE = re.compile(r"[A-Z]{3}")
_DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _check_currency(code: str) -> str:
    if not _CURRENCY_SHAPE.fullmatch(code):
        raise ValueError("must be a three-letter upper-case ISO 4217 code such as EUR")
    if not is_active_currency(code):
        raise ValueError(f"{code} is not an active ISO 4217 currency code")
    return code


def _plain_date(value: object) -> object:
    # Only a calendar date: pydantic's lax mode would also take timestamps and
    # datetimes, and a due date must never depend on a time zone.
    if isinstance(value, datetime):
        raise ValueError("must be a date (YYYY-MM-DD) without a time")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_SHAPE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value} is not a real calendar date") from None
    raise ValueError("must be a date in YYYY-MM-DD form")


AmountMinor = Annotated[
    StrictInt,
    Field(gt=0, le=MAX_AMOUNT_MINOR, description="Integer minor units (1050 = 10.50 EUR)"),
]
CurrencyCode = Annotated[
    StrictStr, AfterValidator(_check_currency), Field(examples=["EUR"], description="ISO 4217")
]
PlainDate = Annotated[date, BeforeValidator(_plain_date)]
MilestoneTitle = Annotated[
    StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]


class _Terms(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FixedTerms(_Terms):
    """`amount_minor` per cycle period, paid in arrears."""

    type: Literal["fixed"]
    amount_minor: AmountMinor
    currency: CurrencyCode
    cycle: Cycle


class HourlyTerms(_Terms):
    """Hours are invoiced once per cycle period at `rate_minor` per hour."""

    type: Literal["hourly"]
    rate_minor: AmountMinor
    currency: CurrencyCode
    cycle: Cycle


class Milestone(_Terms):
    title: MilestoneTitle
    amount_minor: AmountMinor
    due_date: PlainDate


class MilestoneTerms(_Terms):
    type: Literal["milestones"]
    currency: CurrencyCode
    milestones: Annotated[list[Milestone], Field(min_length=1, max_length=MAX_MILESTONES)]
    total_minor: AmountMinor | None = Field(
        default=None, description="When given, the milestones must sum to it"
    )


PaymentTerms = Annotated[FixedTerms | HourlyTerms | MilestoneTerms, Field(discriminator="type")]
"""The typed terms; usable as a schema field for OpenAPI documentation."""

_MODELS: dict[str, type[FixedTerms | HourlyTerms | MilestoneTerms]] = {
    "fixed": FixedTerms,
    "hourly": HourlyTerms,
    "milestones": MilestoneTerms,
}
_STORED: TypeAdapter[FixedTerms | HourlyTerms | MilestoneTerms] = TypeAdapter(PaymentTerms)


def parse_payment_terms(
    raw: object, start_date: date, end_date: date | None
) -> FixedTerms | HourlyTerms | MilestoneTerms:
    """Validate request input against the contract period; all problems at once."""
    if not isinstance(raw, Mapping):
        _fail([_error("", "must be an object with a `type` of fixed, hourly or milestones")])
    term_type = raw.get("type")
    model = _MODELS.get(term_type) if isinstance(term_type, str) else None
    if model is None:
        message = (
            "is required" if "type" not in raw else "must be one of: fixed, hourly, milestones"
        )
        _fail([_error("type", message)])

    errors: list[dict[str, str]] = []
    terms: FixedTerms | HourlyTerms | MilestoneTerms | None = None
    try:
        terms = model.model_validate(dict(raw))
    except ValidationError as exc:
        errors.extend(_error(_path(err["loc"]), _message(err)) for err in exc.errors())

    if isinstance(terms, MilestoneTerms):
        errors.extend(_milestone_rules(list(enumerate(terms.milestones)), start_date, end_date))
        errors.extend(_total_rule(terms))
    elif isinstance(terms, FixedTerms | HourlyTerms):
        errors.extend(_span_rule(terms.cycle, start_date, end_date))
    elif term_type == "milestones":
        # Some field failed; still judge the milestones that are well formed, so
        # the caller sees every problem in one answer.
        errors.extend(
            _milestone_rules(_well_formed_milestones(raw.get("milestones")), start_date, end_date)
        )
    if errors:
        _fail(errors)
    assert terms is not None
    return terms


def load_payment_terms(stored: Mapping[str, Any]) -> FixedTerms | HourlyTerms | MilestoneTerms:
    """Read back terms that `parse_payment_terms` accepted earlier (from the database)."""
    return _STORED.validate_python(dict(stored))


def dump_payment_terms(terms: FixedTerms | HourlyTerms | MilestoneTerms) -> dict[str, Any]:
    """The JSON form to store and to answer with (dates as YYYY-MM-DD)."""
    return terms.model_dump(mode="json", exclude_none=True)


def _milestone_rules(
    milestones: Sequence[tuple[int, Milestone]], start_date: date, end_date: date | None
) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    window_end = end_date if end_date is not None and end_date >= start_date else None
    seen_titles: dict[str, int] = {}
    previous: tuple[int, date] | None = None
    for index, milestone in milestones:
        due = milestone.due_date
        field = f"milestones.{index}.due_date"
        if due < start_date:
            errors.append(
                _error(field, f"must be on or after the contract's start date ({start_date})")
            )
        elif window_end is not None and due > window_end:
            errors.append(
                _error(field, f"must be on or before the contract's end date ({window_end})")
            )
        if previous is not None and due < previous[1]:
            errors.append(
                _error(
                    field,
                    f"is before the due date of milestones.{previous[0]} ({previous[1]}); "
                    "list milestones in due-date order",
                )
            )
        previous = (index, due)
        key = milestone.title.casefold()
        if key in seen_titles:
            errors.append(
                _error(
                    f"milestones.{index}.title",
                    f"repeats the title of milestones.{seen_titles[key]}; titles must be unique",
                )
            )
        else:
            seen_titles[key] = index
    return errors


def _total_rule(terms: MilestoneTerms) -> list[dict[str, str]]:
    if terms.total_minor is None:
        return []
    total = sum(m.amount_minor for m in terms.milestones)
    if total == terms.total_minor:
        return []
    return [
        _error(
            "total_minor",
            f"the milestones sum to {total}, not {terms.total_minor}; "
            "make their amounts add up to the total",
        )
    ]


def _span_rule(cycle: str, start_date: date, end_date: date | None) -> list[dict[str, str]]:
    if end_date is None or end_date < start_date:
        return []
    # An upper bound of the period count (a started period counts as one).
    if cycle == "monthly":
        periods = (end_date.year - start_date.year) * 12 + end_date.month - start_date.month + 1
    else:
        step = 7 if cycle == "weekly" else 14
        periods = -(-((end_date - start_date).days + 1) // step)
    if periods <= MAX_SCHEDULE_PERIODS:
        return []
    return [
        _error(
            "cycle",
            f"a {cycle} schedule from {start_date} to {end_date} has about {periods} periods; "
            f"at most {MAX_SCHEDULE_PERIODS} are allowed (choose a longer cycle or an "
            "earlier end date)",
        )
    ]


def _well_formed_milestones(raw: object) -> list[tuple[int, Milestone]]:
    if not isinstance(raw, list) or len(raw) > MAX_MILESTONES:
        return []
    parsed: list[tuple[int, Milestone]] = []
    for index, item in enumerate(raw):
        try:
            parsed.append((index, Milestone.model_validate(item)))
        except ValidationError:
            continue
    return parsed


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _message(err: ErrorDetails) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    field = str(err["loc"][-1]) if err["loc"] else ""
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "int_type" or (kind == "greater_than" and field.endswith("_minor")):
        if kind == "greater_than":
            return "must be a positive amount (at least 1 minor unit)"
        return (
            "must be a whole number of minor units written as an integer "
            "(e.g. 1050 for 10.50); decimals, booleans and strings are not accepted"
        )
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "literal_error":
        return f"must be one of: {', '.join(CYCLES)}" if field == "cycle" else str(err["msg"])
    if kind == "string_type":
        return "must be a string"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "list_type":
        return "must be a list"
    if kind == "too_short":
        return "must hold at least one milestone"
    if kind == "too_long":
        return f"must hold at most {MAX_MILESTONES} milestones"
    if kind == "model_type":
        return "must be an object"
    if kind == "value_error":
        # Our own validators' messages, without pydantic's "Value error, " prefix.
        error = ctx.get("error")
        return str(error) if error is not None else str(err["msg"])
    return str(err["msg"])


def _error(path: str, message: str) -> dict[str, str]:
    return {"field": f"{FIELD_PREFIX}.{path}" if path else FIELD_PREFIX, "message": message}


def _fail(errors: list[dict[str, str]]) -> NoReturn:
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    if len(errors) > 5:
        detail += f" (and {len(errors) - 5} more)"
    raise InvalidFields(detail, errors=errors)
