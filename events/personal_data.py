"""The vocabulary of data rights (GDPR Art. 15, 17, 20): what each package declares about
the personal data it holds, and the helpers that pseudonymise free text.

Every package that keeps something about a member declares it as `PersonalData`: the
section of the member's export it fills (`export`: the member's records, streamed), and how
that data is erased (`erase`). The declarations are gathered in one place, the composition
root (api/privacy.py); auth/erasure.py runs them. It lives in `events`, the lowest
package the domain packages share, so that every one of them can declare its own.

An eraser must be safe to run again (an erasure interrupted halfway is run again from the
start: what it already did it finds done) and must make a constant number of round trips
per collection whatever the member's history (one `update_many`, or a streamed read and
one bulk write per batch).
"""

import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum
from typing import Any

from events.audit import is_secret
from store import Document, Store, UpdateOne
from store.clock import Clock

ERASED = "[erased]"
"""What replaces a piece of personal data inside text that is kept."""

_INTERNAL_FIELDS = frozenset({"outbox"})
PERSONAL_KEYS = frozenset({
    "email", "name", "first_name", "last_name", "full_name", "holder_first_name", "birthday",
    "birthday_md", "date_of_birth", "phone", "comment", "message", "client_address",
    "user_agent", "address", "ip",
})
"""Field names whose value is personal wherever they appear in a record about the member
(events' bodies, audit changes). `name` counts only inside an object about a member: elsewhere it
names a tier, a survey or a rule."""
_MEMBER_ONLY_KEYS = frozenset({"name"})
_MEMBER_OBJECTS = frozenset({"member", "sender", "recipient"})
"""Objects that describe a member (a gift's two sides are `sender` and `recipient`): their
`name` is personal even when it is no longer the member's current name."""


class Phase(IntEnum):
    """When an eraser runs: settling what has value first (their own events are then
    scrubbed with the rest), records of the past last."""

    CANCEL = 1
    """Give up what is pending: gifts not issued yet, open vouchers."""
    CLOSE = 2
    """Close the balance (after the vouchers gave their points back)."""
    REMOVE = 3
    """Remove or pseudonymise the data itself."""
    RECORDS = 4
    """Scrub the records about the member: events, audit trail, webhook deliveries."""


@dataclass(frozen=True, slots=True)
class Person:
    """Who is exported or erased: the pseudonymous id and what identifies them."""

    member_id: str
    email: str | None = None
    name: str | None = None
    birthday: str | None = None
    """ISO date."""
    extra: tuple[str, ...] = ()
    """Other identifying strings (a referral code, a card id)."""

    def identifying(self) -> list[str]:
        """The strings that identify the person in free text, longest first: the email,
        the name and each of its words of two letters or more, the birthday."""
        words = (self.name or "").split()
        values = [self.email, self.name, self.birthday, *self.extra,
                  *(word for word in words if len(word) >= 2)]
        return sorted({v for v in values if v}, key=len, reverse=True)


@dataclass(frozen=True, slots=True)
class Erasure:
    """One member's erasure, as every eraser sees it."""

    person: Person
    clock: Clock
    started_at: datetime


type Exporter = Callable[[Store, Person], AsyncGenerator[Document]]
type Eraser = Callable[[Store, Erasure], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PersonalData:
    """A package's declaration of personal data it holds about members."""

    section: str
    """The export's section (docs/data-export.md), also the declaration's name."""
    collection: str
    """Where the data lives."""
    export: Exporter | None = None
    """The member's records, streamed (None: nothing the member gets back)."""
    erase: Eraser | None = None
    """Removes or pseudonymises it (None: nothing personal is left to erase)."""
    phase: Phase = Phase.REMOVE
    kept: str = ""
    """What stays after erasure and why (docs/privacy.md says it in full)."""


class Scrubber:
    """Replaces a person's identifying strings in free text (whole words, any case)."""

    def __init__(self, person: Person) -> None:
        values = person.identifying()
        self._pattern = re.compile(
            "|".join(rf"(?<!\w){re.escape(v)}(?!\w)" for v in values), re.IGNORECASE
        ) if values else None

    def text(self, value: str) -> str:
        return self._pattern.sub(ERASED, value) if self._pattern else value

    def value(self, value: Any, *, inside_member: bool = False) -> Any:
        """`value` with every personal field emptied (PERSONAL_KEYS) and every identifying
        string replaced, at any depth."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {key: None if is_personal_key(key, inside_member=inside_member)
                    else self.value(item, inside_member=key in _MEMBER_OBJECTS)
                    for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item, inside_member=inside_member) for item in value]
        return value


def is_personal_key(key: str, *, inside_member: bool = True) -> bool:
    """Whether a field of that name holds personal data (`name` only inside a member)."""
    lowered = key.lower()
    if lowered in _MEMBER_ONLY_KEYS:
        return inside_member
    return lowered in PERSONAL_KEYS or "email" in lowered


def public_record(doc: Mapping[str, Any], *, drop: Iterable[str] = ()) -> Document:
    """A stored document as the member's export shows it: `_id` as `id`, secrets (hashes,
    tokens, keys) and internal bookkeeping left out, times as they are (the export writes
    them as ISO 8601)."""
    dropped = set(drop) | _INTERNAL_FIELDS
    record: Document = {"id": doc["_id"]} if "_id" in doc else {}
    for key, value in doc.items():
        if key != "_id" and key not in dropped and not is_secret(key):
            record[key] = _without_secrets(value)
    return record



def _without_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_secrets(v) for k, v in value.items() if not is_secret(str(k))}
    if isinstance(value, list):
        return [_without_secrets(item) for item in value]
    return value


def json_value(value: object) -> object:
    """`json.dumps` default for stored values: times and dates as ISO 8601."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    raise TypeError(f"{type(value).__name__} in an export")


REWRITE_BATCH = 500
"""Documents changed per bulk write when an eraser rewrites what it streams."""


async def rewrite(
    store: Store, collection: str, documents: AsyncIterator[Document],
    changes: Callable[[Document], Mapping[str, Any] | None],
) -> int:
    """`$set` on each of `documents` (a streamed read) the fields `changes` gives it (None:
    leave it), one bulk write per REWRITE_BATCH; returns how many changed."""
    batch: list[UpdateOne] = []
    changed = 0
    async for doc in documents:
        fields = changes(doc)
        if fields:
            batch.append(UpdateOne({"_id": doc["_id"]}, {"$set": dict(fields)}))
        if len(batch) >= REWRITE_BATCH:
            changed += (await store.collection(collection).bulk_write(batch)).modified_count
            batch = []
    if batch:
        changed += (await store.collection(collection).bulk_write(batch)).modified_count
    return changed
