"""The personal data `scanner` holds about a member: their vouchers (which carry the
holder's first name for the cashier) and their member card.

On erasure every open voucher is cancelled the way a member cancels one
(scanner/reward_redemption.py `cancel_member_voucher`): a reward's points, its unit of stock
and its count against the member's limit come back, and `voucher.cancelled` is recorded,
all in one transaction per voucher. The vouchers stay (their redemptions are sales
records) without the holder's name. The card is deleted: its token stops scanning.
"""

import logging
from collections.abc import AsyncGenerator

from events.personal_data import Erasure, Person, PersonalData, Phase, public_record
from scanner.collections import MEMBER_CARDS, VOUCHERS
from scanner.reward_redemption import cancel_member_voucher
from scanner.vouchers import VoucherStatus
from store import Document, KizunaError, Store

_log = logging.getLogger(__name__)


async def _vouchers(store: Store, person: Person) -> AsyncGenerator[Document]:
    cursor = store.collection(VOUCHERS).find({"member_id": person.member_id}).sort("_id", 1)
    async for doc in cursor:
        yield public_record(doc, drop=("member_id", "issue_key"))


async def _cancel_and_unname(store: Store, erasure: Erasure) -> None:
    member_id = erasure.person.member_id
    open_ids = [doc["_id"] async for doc in store.collection(VOUCHERS).find(
        {"member_id": member_id, "status": VoucherStatus.ACTIVE.value,
         "expires_at": {"$gt": erasure.clock()}}, {"_id": 1})]
    for voucher_id in open_ids:
        try:
            await cancel_member_voucher(store, voucher_id=voucher_id, member_id=member_id,
                                        clock=erasure.clock)
        except KizunaError as error:
            # Redeemed or expired meanwhile: nothing is open any more.
            _log.info("voucher %s not cancelled on erasure: %s", voucher_id, error.code)
    await store.collection(VOUCHERS).update_many(
        {"member_id": member_id, "holder_first_name": {"$ne": ""}},
        {"$set": {"holder_first_name": ""}})


async def _card(store: Store, person: Person) -> AsyncGenerator[Document]:
    doc = await store.collection(MEMBER_CARDS).find_one({"member_id": person.member_id})
    if doc is not None:
        yield public_record(doc, drop=("member_id",))


async def _remove_card(store: Store, erasure: Erasure) -> None:
    await store.collection(MEMBER_CARDS).delete_many({"member_id": erasure.person.member_id})


PERSONAL_DATA = (
    PersonalData(
        section="vouchers", collection=VOUCHERS, export=_vouchers, erase=_cancel_and_unname,
        phase=Phase.CANCEL,
        kept="Every voucher (its redemption is a sales record; `verify` accounts for its "
        "points) without the holder's first name; open ones are cancelled."),
    PersonalData(
        section="member_card", collection=MEMBER_CARDS, export=_card, erase=_remove_card,
        kept="Nothing: the card is deleted."),
)
