"""The personal data the programme holds about a member: their points, ledger, lots,
orders, survey answers, gifts and referrals.

The accounting stays: every ledger entry, lot and order keeps the pseudonymous member id,
so balances, liabilities, refunds and `kizuna verify` add up after an erasure. What is
personal inside is removed: the referral code, survey comments, and the member's
identifying strings in the ledger's reasons (an administrator may have typed a name in an
adjustment). The balance is closed: the points left are forfeited by one ADJUST entry
("Account erased: points forfeited"), so an erased member carries no liability.
"""

from collections.abc import AsyncGenerator
from typing import Any

from events.personal_data import (
    REWRITE_BATCH,
    Erasure,
    Exporter,
    Person,
    PersonalData,
    Phase,
    Scrubber,
    public_record,
)
from events.personal_data import rewrite as rewrite_documents
from events.privacy import scrub_events_about
from loyalty.collections import GIFTS, LEDGER, LOTS, MEMBERS, ORDERS, SURVEY_RESPONSES
from loyalty.engagement.gifts import GiftStatus
from loyalty.ledger.entries import SYSTEM, EntryKind, Source
from loyalty.ledger.lots import allocate
from loyalty.ledger.member_state import read_member
from loyalty.ledger.posting import Movement, debit, open_lots
from loyalty.members.transfers import other_side_key
from store import Document, IndexSpec, Session, Store, is_duplicate_key

FORFEIT_REASON = "Account erased: points forfeited"

INDEXES = (
    # A member's gifts (export, erasure). The members they referred are found by
    # loyalty/members/admin_view.py's `referred_by` index.
    IndexSpec(GIFTS, (("member_id", 1),), name="member"),
)


def _stream(collection: str, *, drop: tuple[str, ...] = ("member_id",),
            sort: str = "_id") -> Exporter:
    """The member's documents of `collection`, in `sort` order (one streamed query)."""

    async def export(store: Store, person: Person) -> AsyncGenerator[Document]:
        cursor = store.collection(collection).find({"member_id": person.member_id}).sort(sort, 1)
        async for doc in cursor:
            yield public_record(doc, drop=drop)

    return export


async def _points(store: Store, person: Person) -> AsyncGenerator[Document]:
    doc = await store.collection(MEMBERS).find_one({"_id": person.member_id})
    if doc is not None:
        record = public_record(doc)
        if isinstance(record.get("referred_by"), dict):
            # Who referred them is another member: the code they used, not that member's id.
            record["referred_by"] = {k: v for k, v in record["referred_by"].items()
                                     if k != "member_id"}
        yield record


async def _referrals_made(store: Store, person: Person) -> AsyncGenerator[Document]:
    """The friends who joined with the member's code: when, and whether it was rewarded
    (not who: their ids are theirs)."""
    cursor = store.collection(MEMBERS).find(
        {"referred_by.member_id": person.member_id}, {"referred_by": 1}).sort("_id", 1)
    async for doc in cursor:
        link = doc["referred_by"]
        yield {"joined_at": link.get("at"), "code": link.get("code"),
               "rewarded_at": link.get("rewarded_at"),
               "rewarded": link.get("rewarded")}


async def _remove_referral_code(store: Store, erasure: Erasure) -> None:
    await store.collection(MEMBERS).update_one(
        {"_id": erasure.person.member_id}, {"$unset": {"referral_code": ""}})


async def _scrub_ledger(store: Store, erasure: Erasure) -> None:
    """Entries are immutable in what they account for; only the member's identifying
    strings inside their free text (reason, details) are replaced."""
    scrub = Scrubber(erasure.person)

    def changes(doc: Document) -> dict[str, Any] | None:
        fields: dict[str, Any] = {}
        reason = scrub.text(doc.get("reason") or "")
        if reason != (doc.get("reason") or ""):
            fields["reason"] = reason
        details = scrub.value(doc.get("details") or {})
        if details != (doc.get("details") or {}):
            fields["details"] = details
        return fields or None

    await rewrite_documents(store, LEDGER, aiter(store.collection(LEDGER).find(
        {"member_id": erasure.person.member_id}, {"reason": 1, "details": 1})), changes)


async def _each(documents: list[Document]) -> AsyncGenerator[Document]:
    for doc in documents:
        yield doc


async def _scrub_gift_counterparts(store: Store, erasure: Erasure) -> None:
    """The other side of each gift (the other member's entry and its event) names the
    erased member and carries the gift's message: both are scrubbed there too. The other
    entries are found by their keys (unique index), a batch at a time."""
    own = store.collection(LEDGER).find(
        {"member_id": erasure.person.member_id,
         "kind": {"$in": [EntryKind.TRANSFER_OUT.value, EntryKind.TRANSFER_IN.value]}},
        {"key": 1, "kind": 1})
    keys = [other_side_key(doc["key"], EntryKind(doc["kind"])) async for doc in own]
    scrub = Scrubber(erasure.person)

    def changes(doc: Document) -> dict[str, Any] | None:
        details = scrub.value(doc.get("details") or {})
        return {"details": details} if details != (doc.get("details") or {}) else None

    for start in range(0, len(keys), REWRITE_BATCH):
        others = await store.collection(LEDGER).find(
            {"key": {"$in": keys[start:start + REWRITE_BATCH]}}, {"details": 1}).to_list(None)
        await rewrite_documents(store, LEDGER, _each(others), changes)
        await scrub_events_about(store, erasure, [doc["_id"] for doc in others])


async def _remove_comments(store: Store, erasure: Erasure) -> None:
    """The score stays (the programme's NPS); the comment, free text, goes."""
    await store.collection(SURVEY_RESPONSES).update_many(
        {"member_id": erasure.person.member_id, "comment": {"$ne": None}},
        {"$set": {"comment": None}})


async def _forfeit_pending_gifts(store: Store, erasure: Erasure) -> None:
    """A voucher gift decided but not issued yet is never issued to an erased member."""
    await store.collection(GIFTS).update_many(
        {"member_id": erasure.person.member_id, "status": GiftStatus.PENDING.value},
        {"$set": {"status": GiftStatus.GRANTED.value, "granted_at": erasure.started_at,
                  "forfeited_at": erasure.started_at}})


async def _close_balance(store: Store, erasure: Erasure) -> None:
    """Forfeit every point left (spendable and pending) with one ADJUST entry, once: its
    key is the member's, so a re-run finds it done."""
    member_id = erasure.person.member_id

    async def work(session: Session) -> None:
        now = erasure.clock()
        lots = await open_lots(store, member_id, session=session)
        allocations, _ = allocate(lots, sum(lot.remaining for lot in lots), now=now,
                                  include_pending=True)
        points = sum(a.points for a in allocations)
        if points <= 0:
            return
        member = await read_member(store, member_id, session=session)
        await debit(store, session, Movement(
            key=f"erasure:{member_id}", kind=EntryKind.ADJUST, reason=FORFEIT_REASON,
            source=Source("ERASURE", member_id), actor=SYSTEM, occurred_at=now,
            recorded_at=now), member=member, points=points, include_pending=True)

    try:
        await store.transaction(work)
    except Exception as error:
        if not is_duplicate_key(error):  # forfeited before: the balance was closed then
            raise


PERSONAL_DATA = (
    PersonalData(
        section="points", collection=MEMBERS, export=_points, erase=_remove_referral_code,
        kept="The member's totals (balance, debt, tier, qualifying buckets, spend by "
        "category) under the pseudonymous id, for the programme's figures; the referral "
        "code is removed."),
    PersonalData(
        section="referrals_made", collection=MEMBERS, export=_referrals_made,
        kept="The link from each friend to the pseudonymous member id (referral rewards "
        "are accounted by it)."),
    PersonalData(
        section="balance_closed", collection=LEDGER, erase=_close_balance, phase=Phase.CLOSE,
        kept="One ADJUST entry that forfeits the points left."),
    PersonalData(
        section="ledger_entries", collection=LEDGER, export=_stream(LEDGER),
        erase=_scrub_ledger,
        kept="Every entry (accounting, tax, fraud): amounts, kinds, sources, times; the "
        "member's name or email inside a reason is replaced by [erased]."),
    PersonalData(
        section="gifts_to_and_from_others", collection=LEDGER, erase=_scrub_gift_counterparts,
        phase=Phase.RECORDS,
        kept="The other member's side of each gift, without the erased member's name or the "
        "gift's message."),
    PersonalData(
        section="lots", collection=LOTS, export=_stream(LOTS),
        kept="Every lot, for the balance and expiry invariants."),
    PersonalData(
        section="orders", collection=ORDERS, export=_stream(ORDERS, sort="occurred_at"),
        kept="Every order and its refunds (amounts, items, store): the shop's sales records "
        "and what refunds reverse; they hold no name or address."),
    PersonalData(
        section="survey_answers", collection=SURVEY_RESPONSES,
        export=_stream(SURVEY_RESPONSES), erase=_remove_comments,
        kept="The score and time (NPS figures); the comment is removed."),
    PersonalData(
        section="gifts", collection=GIFTS, export=_stream(GIFTS),
        erase=_forfeit_pending_gifts, phase=Phase.CANCEL,
        kept="Each gift's once-only record; a voucher gift not issued yet is forfeited."),
)
