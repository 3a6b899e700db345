"""A member spends points on a reward and receives its voucher; cancelling that voucher
before use gives everything back.

Redeeming is one transaction: the member's totals are read, one unit of the reward's stock
is taken by a conditional update (never below zero), eligibility is checked on what the
transaction reads, the points are debited through the ledger (lots soonest-expiry-first,
one REDEEM entry "Reward: <title>", source REWARD), the vouchers the member holds of the
reward are counted on their totals document in the same update, and the voucher is issued.
Any failure, expected or not, aborts all of it.

Idempotency: the ledger entry's key `reward:<member>:<idempotency key>` is unique, and the
voucher carries the same key (`issue_key`). A retry finds them and returns the first
voucher (`replayed`), whether the retry's own transaction hit the unique key or was refused
because the first one had already spent the points, the stock or the limit; the same key for
another reward is IDEMPOTENCY_CONFLICT.

Cancelling (the member's `voucherCancel`) flips the voucher to CANCELLED and, for a reward's
voucher, in the same transaction credits back exactly the points its REDEEM entry took (a
REVERSAL entry "Voucher cancelled: <title>", key `reward-cancel:<voucher>`), returns the unit
to the stock and counts the voucher out of the member's limit. The points come back as a
new lot: spendable at once, expiring per the programme from the moment of cancellation.
"""

from dataclasses import dataclass

from auth.accounts import get_account
from auth.roles import Role
from loyalty.collections import LEDGER, REWARDS
from loyalty.errors import UnknownMember
from loyalty.idempotency import check_key, ensure_same_payload, fingerprint
from loyalty.ledger.entries import Actor, EntryKind, Source, entry_by_key, entry_from_document
from loyalty.ledger.lots import spendable_points
from loyalty.ledger.member_state import read_member
from loyalty.ledger.posting import Movement, debit, open_lots, restore
from loyalty.members import reference
from loyalty.rewards.catalogue import give_one_back, held_change, read_reward, take_one, tiers_in
from loyalty.rewards.policy import Redeemer, Reward, price_to_redeem
from loyalty.segments.definitions import member_segments
from scanner.cancellation import cancel_voucher
from scanner.collections import VOUCHERS
from scanner.vouchers import (
    Benefit,
    Restrictions,
    SourceKind,
    Voucher,
    VoucherKind,
    issue_voucher,
    voucher_from_document,
)
from store import KizunaError, Session, Store, is_duplicate_key
from store.clock import Clock


@dataclass(frozen=True, slots=True)
class RewardRedeemed:
    voucher: Voucher
    points_spent: int
    balance: int
    """Spendable points right after the redemption (a replay: after the first one)."""
    replayed: bool


@dataclass(frozen=True, slots=True)
class VoucherGivenBack:
    voucher: Voucher
    points_returned: int
    """Points spendable again (0 for a voucher no points were spent on)."""
    reward_id: str | None
    """The reward whose stock got the unit back, for a reward's voucher."""
    points_expired: int = 0
    """Points the voucher cost whose lots expired meanwhile: they expire again."""
    points_pending: int = 0
    """Points back in lots that are still pending."""
    debt_settled: int = 0
    """Points that paid off the member's debt instead."""

    def explanation(self) -> str:
        """Where the points the voucher cost went, in words for the member."""
        if self.reward_id is None:
            return "This voucher was a gift: no points were spent on it."
        parts = [f"{_points(self.points_returned)} back in your balance"]
        if self.points_pending:
            parts.append(f"{_points(self.points_pending)} back but still pending")
        if self.debt_settled:
            parts.append(f"{_points(self.debt_settled)} paid off points you owed")
        if self.points_expired:
            parts.append(f"{_points(self.points_expired)} had expired since you spent them, "
                         "so they expire again")
        return "; ".join(parts) + "."


def _points(n: int) -> str:
    return f"{n} point{'s' if n != 1 else ''}"


class _SegmentsNeeded(Exception):
    """The reward is for segments: work out the member's first, then run again."""



async def redeem_reward(
    store: Store, *, reward_id: str, member_id: str, idempotency_key: str, clock: Clock
) -> RewardRedeemed:
    """Spend the member's points on `reward_id` and issue its voucher, all or nothing.

    Raises UnknownMember, UnknownReward, RewardInactive, NotYetAvailable, RewardEnded,
    NotEligibleTier, NotEligibleSegment, EarlyAccess, LimitReached, OutOfStock,
    InsufficientPoints, InvalidInput (the key) or IdempotencyConflict; nothing is spent then.
    """
    key = f"reward:{member_id}:{check_key(idempotency_key)}"
    payload_hash = fingerprint({"member": member_id, "reward": reward_id})
    account = await get_account(store, member_id)
    if account is None or account.role is not Role.MEMBER:
        raise UnknownMember("No member has this id.", field=("input",))
    segments: frozenset[str] | None = None
    # Only for the wording of a refusal's dates: from the read cache, before the transaction
    # (a plain read inside it would wait on the embedded engine's transaction gate).
    timezone = (await reference.programme(store)).timezone

    async def work(session: Session) -> RewardRedeemed:
        now = clock()
        member = await read_member(store, member_id, session=session)
        reward = await take_one(store, session, reward_id=reward_id, now=now)
        taken = reward is not None
        if reward is None:  # unknown, switched off or out of stock: find out which
            reward = await read_reward(store, session, reward_id=reward_id)
        if reward.draft.segments and segments is None:
            raise _SegmentsNeeded
        tiers = await tiers_in(store, session) if reward.draft.uses_tiers else []
        lots = [lot for lot in await open_lots(store, member_id, session=session)
                if not lot.expired(now)]
        balance = max(0, spendable_points(lots, now) - member.debt)
        redeemer = Redeemer(tier_id=member.tier.tier_id, balance=balance,
                            reward_counts=member.reward_counts or {},
                            segments=segments or frozenset(),
                            badges=frozenset(member.badges or {}))
        cost = price_to_redeem(reward, redeemer, tiers=tiers, now=now, stock_taken=taken,
                               timezone=timezone)
        title = reward.draft.title
        entry = await debit(
            store, session,
            Movement(key=key, kind=EntryKind.REDEEM, reason=f"Reward: {title}",
                     source=Source("REWARD", reward_id), actor=Actor("MEMBER", member_id),
                     occurred_at=now, recorded_at=now, payload_hash=payload_hash,
                     details={"reward_id": reward_id, "title": title,
                              "balance_after": balance - cost}),
            member=member, points=cost, member_changes=held_change(reward_id, 1),
        )
        voucher, _ = await issue_voucher(
            store, member_id=member_id, holder_name=account.name, benefit=_benefit(reward),
            restrictions=Restrictions(channels=reward.draft.channels,
                                      min_order_total=reward.draft.min_order_total),
            valid_days=reward.draft.voucher_valid_days, source_kind=SourceKind.REWARD,
            source_reference=entry.id, clock=clock, issue_key=key, session=session,
            audit=None,  # the member's own redemption: not an audited write
        )
        return RewardRedeemed(voucher=voucher, points_spent=cost, balance=balance - cost,
                              replayed=False)

    while True:
        try:
            redeemed = await store.transaction(work)
        except _SegmentsNeeded:
            segments = await member_segments(store, member_id, now=clock())
        except KizunaError:
            # Refused on what the transaction read: maybe because an earlier request with
            # this key took the points, the stock or the limit. Then it is a replay.
            first = await _first_redemption(store, key, payload_hash)
            if first is None:
                raise
            return first
        except Exception as error:
            if not is_duplicate_key(error):
                raise
            first = await _first_redemption(store, key, payload_hash)
            if first is None:
                raise
            return first
        else:
            store.reads.forget(REWARDS)  # the catalogue's stock figure
            return redeemed


def _benefit(reward: Reward) -> Benefit:
    d = reward.draft
    return Benefit(kind=VoucherKind(d.kind.value), title=d.title, amount_off=d.amount_off,
                   percent_off=d.percent_off, currency=d.currency, product_sku=d.product_sku)


async def _first_redemption(
    store: Store, key: str, payload_hash: str
) -> RewardRedeemed | None:
    """What the first request with this key got (its entry keeps the balance it left);
    IdempotencyConflict if it was for another reward; None if there was none."""
    entry = await entry_by_key(store, key)
    if entry is None:
        return None
    ensure_same_payload(entry.payload_hash, payload_hash, what="reward redemption")
    doc = await store.collection(VOUCHERS).find_one({"issue_key": key})
    if doc is None:
        raise RuntimeError(f"redemption {key} without its voucher")
    return RewardRedeemed(voucher=voucher_from_document(doc), points_spent=-entry.points,
                          balance=entry.details["balance_after"], replayed=True)


async def cancel_member_voucher(
    store: Store, *, voucher_id: str, member_id: str, clock: Clock
) -> VoucherGivenBack:
    """The member gives up an unused voucher; for a reward's voucher, in the same
    transaction, its points, its unit of stock and its count against the member's limit
    come back. Raises what scanner.cancellation `cancel_voucher` raises (nothing changes)."""
    # For the wording of a refusal's dates, read before the transaction (see redeem_reward).
    timezone = (await reference.programme(store)).timezone

    async def work(session: Session) -> VoucherGivenBack:
        voucher = await cancel_voucher(store, voucher_id=voucher_id, member_id=member_id,
                                       clock=clock, timezone=timezone, session=session)
        if voucher.source_kind is not SourceKind.REWARD or voucher.source_reference is None:
            return VoucherGivenBack(voucher=voucher, points_returned=0, reward_id=None)
        doc = await store.collection(LEDGER).find_one({"_id": voucher.source_reference},
                                                      session=session)
        if doc is None:
            raise RuntimeError(f"voucher {voucher.id} without its redemption entry")
        spent = entry_from_document(doc)
        reward_id, now = spent.source.id, clock()
        member = await read_member(store, member_id, session=session)
        restored = await restore(
            store, session,
            Movement(key=f"reward-cancel:{voucher.id}", kind=EntryKind.REVERSAL,
                     reason=f"Voucher cancelled: {voucher.benefit.title}",
                     source=Source("REWARD", reward_id), actor=Actor("MEMBER", member_id),
                     occurred_at=now, recorded_at=now,
                     details={"reverses": spent.id, "voucher_id": voucher.id}),
            member=member, spent=spent, member_changes=held_change(reward_id, -1),
        )
        await give_one_back(store, session, reward_id=reward_id)
        return VoucherGivenBack(
            voucher=voucher, points_returned=restored.spendable, reward_id=reward_id,
            points_expired=restored.expired, points_pending=restored.pending,
            debt_settled=restored.debt_settled,
        )

    given_back = await store.transaction(work)
    if given_back.reward_id is not None:
        store.reads.forget(REWARDS)
    return given_back
