"""The two kinds of import file, members and balances: their columns, how a row is read
into a record, and how a batch of records is checked against the database and written
(docs/import.md). The runner (api/imports.py) gives each batch one transaction, or none
for a dry run (`write=False`: the same checks, nothing written).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from api.import_files import Columns, RawRow
from auth.imports import (
    ImportedMember,
    check_against,
    clean_external_id,
    existing,
    insert_members,
    member_from_row,
    members_by_external_id,
)
from loyalty.members.directory import enrol_many
from loyalty.members.imports import (
    ImportedBalance,
    UnknownMember,
    apply_balances,
    balance_from_row,
    is_new,
    members_before,
)
from loyalty.programme.settings import Programme
from store import KizunaError, Session, Store


class Outcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    """Applied by an earlier run (the same row again)."""


type Result = Outcome | KizunaError
"""What became of a row: applied, unchanged, or rejected with this error."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """A row read into its record; `email` (members) is also unique within a file."""

    line: int
    external_id: str
    email: str | None
    record: ImportedMember | ImportedBalance


class Kind(Protocol):
    name: str
    columns: Columns

    def parse(self, row: RawRow, *, now: datetime) -> Parsed:
        """The row's record; raises KizunaError for a row to reject."""

    async def apply(self, store: Store, session: Session | None, batch: Sequence[Parsed], *,
                    file: str, now: datetime, write: bool) -> dict[int, Result]:
        """Check `batch` against the database and, with `write`, write its new rows in the
        caller's transaction; what became of each row, by line."""


MEMBER_COLUMNS = Columns(
    required=("external_id", "email", "name"),
    optional=("birthday", "marketing_consent", "sms_consent", "personalisation_consent",
              "consent_at"),
)
BALANCE_COLUMNS = Columns(required=("external_id", "points"), optional=("expires_at", "tier"))


class Members:
    name = "members"
    columns = MEMBER_COLUMNS

    def parse(self, row: RawRow, *, now: datetime) -> Parsed:
        member = member_from_row(row.fields, line=row.line, now=now)
        return Parsed(row.line, member.external_id, member.email, member)

    async def apply(self, store: Store, session: Session | None, batch: Sequence[Parsed], *,
                    file: str, now: datetime, write: bool) -> dict[int, Result]:
        members = [p.record for p in batch if isinstance(p.record, ImportedMember)]
        found = await existing(store, session, members)
        results: dict[int, Result] = {}
        new: list[ImportedMember] = []
        for member in members:
            try:
                fresh = check_against(member, found)
            except KizunaError as error:
                results[member.line] = error
                continue
            results[member.line] = Outcome.APPLIED if fresh else Outcome.UNCHANGED
            if fresh:
                new.append(member)
        if write and session is not None:
            await insert_members(store, session, new, file=file, now=now,
                                 enrolment=lambda s, joined: enrol_many(store, s, joined))
        return results


class Balances:
    name = "balances"
    columns = BALANCE_COLUMNS

    def __init__(self, programme: Programme) -> None:
        self._programme = programme

    def parse(self, row: RawRow, *, now: datetime) -> Parsed:
        external_id = clean_external_id(row.fields.get("external_id", ""))
        balance = balance_from_row(row.fields, external_id=external_id, line=row.line,
                                   programme=self._programme, now=now)
        return Parsed(row.line, external_id, None, balance)

    async def apply(self, store: Store, session: Session | None, batch: Sequence[Parsed], *,
                    file: str, now: datetime, write: bool) -> dict[int, Result]:
        balances = [p.record for p in batch if isinstance(p.record, ImportedBalance)]
        ids = await members_by_external_id(store, session, [b.external_id for b in balances])
        before = await members_before(store, session, list(ids.values()))
        results: dict[int, Result] = {}
        new: list[tuple[str, ImportedBalance]] = []
        for balance in balances:
            member_id = ids.get(balance.external_id)
            try:
                if member_id is None:
                    raise UnknownMember("No member has this external id: import the member "
                                        "first (`kizuna import members`).",
                                        field=("external_id",))
                fresh = is_new(balance, before.get(member_id))
            except KizunaError as error:
                results[balance.line] = error
                continue
            results[balance.line] = Outcome.APPLIED if fresh else Outcome.UNCHANGED
            if fresh:
                new.append((member_id, balance))
        if write and session is not None:
            await apply_balances(store, session, new, before=before, file=file,
                                 programme=self._programme, now=now)
        return results


KINDS: Mapping[str, Columns] = {"members": MEMBER_COLUMNS, "balances": BALANCE_COLUMNS}
