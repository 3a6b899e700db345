"""A member's data export (GDPR Art. 15 and 20): every section that a package declares
(events/personal_data.py `PersonalData.export`), in one documented JSON format
(docs/data-export.md).

Small histories come back at once, in `myDataExport`'s answer. When the member has more
than `inline_limit` records in all, the answer is a download link instead
(auth/export_links.py): the export is then streamed from the database as it is downloaded,
a section at a time, one streamed query per collection, so its memory does not grow with
the history and no copy of the data is ever stored.
"""

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from auth.collections import ACCOUNTS
from auth.errors import AlreadyErased
from auth.export_links import ExportLinks
from auth.roles import Role
from events.personal_data import Person, PersonalData, json_value
from store import Document, NotFound, Store
from store.clock import Clock

FORMAT = "kizuna.member-data"
FORMAT_VERSION = 1
"""Raised when a receiver could trip on a change (a field removed or renamed, a meaning
changed); new sections and fields do not raise it."""


@dataclass(frozen=True, slots=True)
class DataRights:
    """The composition root's declarations and the export's settings."""

    personal_data: tuple[PersonalData, ...]
    links: ExportLinks
    inline_limit: int
    """Records an export may hold to come back inline; more get a download link."""

    def __post_init__(self) -> None:
        sections = [d.section for d in self.personal_data]
        if len(sections) != len(set(sections)):
            raise ValueError(f"two declarations of personal data share a section: {sections}")

    @property
    def exported(self) -> list[PersonalData]:
        return [d for d in self.personal_data if d.export is not None]


def person_of(doc: Document) -> Person:
    """Who an account document identifies."""
    return Person(member_id=doc["_id"], email=doc.get("email"), name=doc.get("name"),
                  birthday=doc.get("birthday"))


async def member_account(store: Store, member_id: str) -> Document:
    """The member's account document; raises NotFound, or AlreadyErased once erased."""
    doc = await store.collection(ACCOUNTS).find_one({"_id": member_id,
                                                     "role": Role.MEMBER.value})
    if doc is None:
        raise NotFound("No member has this id.", field=("input", "memberId"))
    if doc.get("erased_at") is not None:
        raise AlreadyErased("This member's personal data was erased already.",
                            field=("input", "memberId"))
    return doc


def header(person: Person, now: datetime) -> Document:
    return {"format": FORMAT, "version": FORMAT_VERSION, "generated_at": now,
            "member_id": person.member_id}


def jsonable(value: Any) -> Any:
    """A stored value as plain JSON types (times as ISO 8601 text)."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime | date | bytes):
        return json_value(value)
    return value


async def export_now(
    store: Store, rights: DataRights, *, member_id: str, clock: Clock
) -> Document:
    """The member's whole export when it holds at most `inline_limit` records, else the
    header with a `download` link; raises NotFound, AlreadyErased."""
    person = person_of(await member_account(store, member_id))
    now = clock()
    sections: dict[str, list[Document]] = {}
    counted = 0
    for declared in rights.exported:
        assert declared.export is not None  # noqa: S101 - `exported` keeps those
        records: list[Document] = []
        async with contextlib.aclosing(declared.export(store, person)) as found:
            async for record in found:
                counted += 1
                if counted > rights.inline_limit:
                    link = rights.links.issue(member_id)
                    answer: Document = jsonable({**header(person, now), "download": {
                        "url": link.url, "expires_at": link.expires_at,
                        "reason": f"More than {rights.inline_limit} records: download "
                        "the export from this link before it expires."}})
                    return answer
                records.append(record)
        sections[declared.section] = records
    complete: Document = jsonable({**header(person, now), "sections": sections})
    return complete


async def export_stream(
    store: Store, personal_data: Sequence[PersonalData], *, member_id: str, clock: Clock
) -> AsyncIterator[str]:
    """The member's whole export as JSON text, a record at a time (the download); raises
    NotFound or AlreadyErased before the first piece."""
    person = person_of(await member_account(store, member_id))

    async def pieces() -> AsyncIterator[str]:
        opening = _dumps(header(person, clock()))
        yield opening[:-1] + ',"sections":{'
        first_section = True
        for declared in personal_data:
            if declared.export is None:
                continue
            yield ("" if first_section else ",") + _dumps(declared.section) + ":["
            first_section = False
            first = True
            async with contextlib.aclosing(declared.export(store, person)) as found:
                async for record in found:
                    yield ("" if first else ",") + _dumps(record)
                    first = False
            yield "]"
        yield "}}"

    return pieces()


def _dumps(value: Any) -> str:
    return json.dumps(value, default=json_value, ensure_ascii=False, separators=(",", ":"))
