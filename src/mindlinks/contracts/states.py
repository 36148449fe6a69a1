"""The one transition table of a contract.

    draft            -> sent | void
    sent             -> partially_signed | fully_signed | declined | void
    partially_signed -> fully_signed | declined | void
    fully_signed     -> active
    active           -> completed | terminated
    completed, terminated, void, declined: final

`sent -> fully_signed` is a contract whose parties all sign in one go (a
parallel template where the last two signatures commit together is still two
steps; a single-party contract does not exist, but the table does not assume it).
`fully_signed -> active` happens in the transaction of the last signature.
"""

from __future__ import annotations

from typing import Final, Literal

Status = Literal[
    "draft",
    "sent",
    "partially_signed",
    "fully_signed",
    "active",
    "completed",
    "terminated",
    "void",
    "declined",
]
STATUSES: Final = (
    "draft",
    "sent",
    "partially_signed",
    "fully_signed",
    "active",
    "completed",
    "terminated",
    "void",
    "declined",
)
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "draft": frozenset({"sent", "void"}),
    "sent": frozenset({"partially_signed", "fully_signed", "declined", "void"}),
    "partially_signed": frozenset({"fully_signed", "declined", "void"}),
    "fully_signed": frozenset({"active"}),
    "active": frozenset({"completed", "terminated"}),
    "completed": frozenset(),
    "terminated": frozenset(),
    "void": frozenset(),
    "declined": frozenset(),
}
SIGNABLE_STATUSES: Final = frozenset({"sent", "partially_signed"})
FINAL_STATUSES: Final = frozenset({"completed", "terminated", "void", "declined"})


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())
