"""A member changing their own profile: name and date of birth."""

from datetime import date
from typing import Any

import events
from auth.accounts import Account, account_from_document, birthday_changes
from auth.collections import ACCOUNTS
from auth.member_search import reindex_name
from auth.roles import Role
from auth.validation import check_birthday, clean_name
from events import Event, EventType, Subject, SubjectKind
from store import InputErrors, InvalidInput, KizunaError, NotFound, Session, Store
from store.clock import Clock


def _checked(name: str | None, birthday: date | None, today: date) -> str | None:
    """The cleaned name; every problem of the input at once (InputErrors)."""
    if name is None and birthday is None:
        raise InvalidInput("Give a new name or date of birth.", field=("input",))
    errors: list[KizunaError] = []
    cleaned = None
    try:
        cleaned = clean_name(name) if name is not None else None
    except KizunaError as error:
        errors.append(error)
    try:
        if birthday is not None:
            check_birthday(birthday, today=today)
    except KizunaError as error:
        errors.append(error)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return cleaned


async def update_account(
    store: Store, *, member_id: str, name: str | None, birthday: date | None, clock: Clock
) -> Account:
    """Change the member's name and/or date of birth (the birthday under the same rules as
    `set_birthday`: a new day and month needs 30 days' notice for its gift). A new name
    rewrites the words the administrators' search finds the member by; the account, those
    words and a `member.updated` event commit together. Unchanged values change nothing.
    Raises InvalidInput (InputErrors), NotFound."""
    now = clock()
    cleaned = _checked(name, birthday, now.date())
    accounts = store.collection(ACCOUNTS)

    async def work(session: Session) -> dict[str, Any]:
        current = await accounts.find_one({"_id": member_id, "role": Role.MEMBER.value},
                                          {"password_hash": 0}, session=session)
        if current is None:
            raise NotFound("No member with this id.", field=("input",))
        changes: dict[str, Any] = {}
        if cleaned is not None and cleaned != current["name"]:
            changes["name"] = cleaned
        if birthday is not None:
            changes.update(birthday_changes(current, birthday, now=now))
        if not changes:
            return current
        await accounts.update_one({"_id": member_id}, {"$set": {**changes, "updated_at": now}},
                                  session=session)
        if "name" in changes:
            await reindex_name(store, session, member_id=member_id, old_name=current["name"],
                               new_name=changes["name"])
        after = {**current, **changes}
        events.record(store, session, updated_event(after, sorted(
            {"birthday" if key.startswith("birthday") else key for key in changes}), at=now))
        return after

    return account_from_document(await store.transaction(work))


def updated_event(doc: dict[str, Any], changed: list[str], *, at: Any) -> Event:
    """`member.updated`: the profile after the change, and which fields changed."""
    return Event(EventType.MEMBER_UPDATED, Subject(SubjectKind.MEMBER, doc["_id"]),
                 occurred_at=at, member_id=doc["_id"],
                 data={"member": {"id": doc["_id"], "email": doc["email"], "name": doc["name"],
                                  "birthday": doc.get("birthday")},
                       "changed": changed})
