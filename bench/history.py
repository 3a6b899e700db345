"""A member's history as the product would have written it, built in memory for bulk
seeding (`scale`, `soak`): their account, a welcome bonus, orders earned under the active
rules, reward redemptions with their vouchers (all but the last redeemed at a till, with
the two scan audit records of that checkout) and small corrections, over the last eleven
months, in time order.

Every step runs the product's own policy on what the member has so far: the rules'
`evaluate` with the usage counters of their limits and the tier bonus, `earn_effect` (tier
buckets and moves), `order_stat_increments` (segments' statistics), lots consumed
soonest-expiry-first, `price_to_redeem`; the documents come from the product's builders
where it has them (`Entry.document()`, the order document, the voucher helpers) and copy
the shape of `posting.credit` / `debit` where it writes inline (bench.ledger_mirror). So
balance = Σ entries = Σ open lots, and `kizuna verify` stays clean.
"""

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from auth.accounts import registered_event
from auth.member_search import word_documents
from bench.ledger_mirror import MemberBook, spendable_at
from bench.options import HistoryShape
from bench.usage_book import UsageBook
from bench.voucher_docs import ScanRecord, redeem_at_till, voucher_document
from loyalty.conditions import MemberFacts, Purchase
from loyalty.earning import order_events
from loyalty.earning.orders import _order_document, _payload
from loyalty.earning.rules.evaluate import evaluate, with_tier_bonus
from loyalty.earning.rules.model import EarningRule
from loyalty.idempotency import fingerprint
from loyalty.ledger.entries import SYSTEM, Actor, Entry, EntryKind, Source
from loyalty.ledger.posting import Movement
from loyalty.programme.settings import Programme
from loyalty.programme.tier_rules import month_key
from loyalty.purchases import Channel, OrderLine
from loyalty.rewards.catalogue import held_change
from loyalty.rewards.policy import Redeemer, Reward, price_to_redeem
from loyalty.segments.policy import order_stat_increments
from loyalty.tiers.moves import earn_effect
from scanner import voucher_events
from scanner.audit import Scanner
from scanner.reward_redemption import _benefit
from scanner.vouchers import Restrictions, SourceKind
from store import KizunaError, new_id

HISTORY = timedelta(days=330)  # inside the default 12 months' expiry: no lot is due
RECENT = timedelta(days=3)  # the last event: the member's last voucher is still ACTIVE
WELCOME_BONUS = 500
CORRECTION = -1
ORDER_TOTALS = (40_000, 12_000, 4_000, 90_000, 25_000)  # spend levels, as `home` seeds
CATEGORIES = ("shoes", "outerwear", "bags", "accessories")
TILL_ORDER_TOTAL = 4_200


@dataclass(frozen=True, slots=True)
class SeedContext:
    """What every member's history is written against, read once from the database."""

    run: str
    now: datetime
    programme: Programme
    rules: tuple[EarningRule, ...]
    shop: Actor
    """The API key that records orders (a shop system)."""
    admin: Actor
    reward: Reward
    """The reward members redeem."""
    scanners: tuple[Scanner, ...]
    """Staff at their tills, who redeem vouchers."""
    password_hash: str
    """Of the one password every seeded member has (so the bench can sign any in)."""
    shape: HistoryShape


@dataclass(slots=True)
class MemberDocs:
    """Everything one member adds to the database."""

    account: dict[str, Any]
    book: MemberBook
    orders: list[dict[str, Any]] = field(default_factory=list)
    usage: UsageBook = field(default_factory=UsageBook)
    vouchers: list[dict[str, Any]] = field(default_factory=list)
    scans: list[ScanRecord] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    """The outbox's events but those of the ledger entries (the book's)."""
    words: list[dict[str, Any]] = field(default_factory=list)
    """The member's name words (auth.member_search)."""


def email_of(run: str, index: int) -> str:
    return f"scale-{run.lower()}-{index}@example.com"  # as auth stores them: lower case


def member_documents(ctx: SeedContext, index: int, member_id: str) -> MemberDocs:
    """Member `index`'s account and history (deterministic for a given index, but for ids,
    codes and `ctx.now`)."""
    rng = random.Random(index)
    start = ctx.now - HISTORY + timedelta(days=index % 30, minutes=rng.randrange(1440))
    docs = MemberDocs(account=_account(ctx, index, member_id, start), book=MemberBook(member_id))
    # What registration writes besides the account (auth.accounts, loyalty.members.directory):
    # the member list's join date and the name's words.
    docs.book.totals.update({"joined_at": start, "points": 0})
    docs.words = word_documents(member_id, docs.account["name"])
    docs.events.append(registered_event(docs.account).document())
    _adjust(ctx, docs, WELCOME_BONUS, "Welcome bonus", start)
    steps = _steps(ctx.shape, rng)
    span = ctx.now - RECENT - start - timedelta(days=1)
    orders = redemptions = 0
    for position, step in enumerate(steps):
        at = start + timedelta(days=1) + span * (position + 1) / len(steps)
        if step == "order":
            _order(ctx, docs, index, orders, at, rng)
            orders += 1
        elif step == "redeem":
            _redeem(ctx, docs, index, redemptions, at, rng,
                    at_till=redemptions < ctx.shape.vouchers - 1)
            redemptions += 1
        else:
            _adjust(ctx, docs, CORRECTION, "Correction of a manual entry", at)
    return docs


def _steps(shape: HistoryShape, rng: random.Random) -> list[str]:
    """Orders and corrections in a random order, the redemptions spread among them with the
    last one at the end (its voucher still valid)."""
    corrections = max(0, shape.entries - 1 - shape.orders - shape.vouchers)
    steps = ["order"] * shape.orders + ["correction"] * corrections
    rng.shuffle(steps)
    for n in range(shape.vouchers):
        steps.insert(round(len(steps) * (n + 1) / shape.vouchers) + n, "redeem")
    return steps


def _account(ctx: SeedContext, index: int, member_id: str, at: datetime) -> dict[str, Any]:
    """auth.accounts `_insert_account` for a member (every third with a birthday)."""
    birthday = date(1970 + index % 35, 1 + index % 12, 1 + index % 28) if index % 3 == 0 else None
    return {
        "_id": member_id, "email": email_of(ctx.run, index),
        "password_hash": ctx.password_hash, "name": f"Scale Member {index}",
        "role": "MEMBER",
        "birthday": birthday.isoformat() if birthday else None,
        "birthday_md": birthday.strftime("%m-%d") if birthday else None,
        "birthday_set_at": at if birthday else None,
        "marketing_consent": index % 2 == 0, "marketing_consent_at": at if index % 2 == 0 else None,
        "store_id": None, "manager": False, "created_at": at,
    }


def _adjust(ctx: SeedContext, docs: MemberDocs, points: int, reason: str, at: datetime) -> None:
    """loyalty.ledger.adjustments `adjust_points` by the administrator (a removal that the
    lots cannot cover is skipped: the product would refuse it)."""
    adjustment_id = new_id()
    member_id = docs.book.member_id
    movement = Movement(
        key=f"adjust:{adjustment_id}", kind=EntryKind.ADJUST, reason=reason,
        source=Source("ADJUSTMENT", adjustment_id), actor=ctx.admin, occurred_at=at,
        recorded_at=at,
        payload_hash=fingerprint({"member": member_id, "points": points, "reason": reason}),
    )
    if points > 0:
        docs.book.credit(movement, points=points, programme=ctx.programme)
    else:
        docs.book.debit(movement, points=-points, include_pending=True)


def _purchase(index: int, k: int, order_id: str, at: datetime, rng: random.Random) -> Purchase:
    """An order at the member's spend level (±50 %), 80 % in their favourite category."""
    level = ORDER_TOTALS[index % len(ORDER_TOTALS)]
    total = max(1_000, round(level * rng.uniform(0.5, 1.5) / 10) * 10)
    favourite = CATEGORIES[index % len(CATEGORIES)]
    other = CATEGORIES[(index + 1 + k) % len(CATEGORIES)]
    main = total * 4 // 5
    return Purchase(
        order_id=order_id, channel=Channel.ONLINE if k % 2 else Channel.STORE, total=total,
        currency="EUR",
        lines=(OrderLine(f"{favourite.upper()}-{k}", favourite, 1, main),
               OrderLine(f"{other.upper()}-{k}", other, 1, total - main)),
        occurred_at=at,
    )


def _order(
    ctx: SeedContext, docs: MemberDocs, index: int, k: int, at: datetime, rng: random.Random
) -> None:
    """loyalty.earning.orders `record_order` by the shop system, recorded when it happened."""
    book, programme, member_id = docs.book, ctx.programme, docs.book.member_id
    purchase = _purchase(index, k, f"scale-{ctx.run}-{index}-{k}", at, rng)
    payload_hash = fingerprint(_payload(member_id, purchase, None))
    member = book.state()
    facts = MemberFacts(member_id=member_id, is_first_order=member.orders_count == 0,
                        tier=member.tier.tier_id)
    local_date = at.astimezone(programme.timezone).date()
    usage = docs.usage.usage(ctx.rules, member_id=member_id, local_date=local_date)
    evaluation = with_tier_bonus(
        evaluate(ctx.rules, purchase, facts, usage, timezone=programme.timezone),
        programme.tier(member.tier.tier_id),
    )
    effect = earn_effect(member, programme, points=evaluation.points, spend=purchase.total,
                         occurred_at=at, now=at)
    stats = order_stat_increments(total=purchase.total, lines=purchase.lines,
                                  month=month_key(at, programme.timezone))
    movement = Movement(
        key=f"order:{purchase.order_id}", kind=EntryKind.EARN,
        reason=f"Order {purchase.order_id}", source=Source("ORDER", purchase.order_id),
        actor=ctx.shop, occurred_at=at, recorded_at=at, payload_hash=payload_hash,
        breakdown=evaluation.awards,
    )
    entry = book.credit(
        movement, points=evaluation.points, programme=programme, order_id=purchase.order_id,
        member_changes={
            **effect.member_changes,
            "$inc": {"orders_count": 1, **effect.member_changes["$inc"], **stats},
            "$min": {"first_order_at": at}, "$max": {"last_order_at": at},
        },
    )
    if effect.decision is not None:  # tiers.moves `record_tier_change`
        tier = effect.decision.tier
        book.record(Entry(
            id=new_id(), key=f"tier:{member_id}:{new_id()}", member_id=member_id,
            kind=EntryKind.TIER, points=0, reason=effect.decision.reason,
            source=Source("TIER", tier.id if tier else "none"), actor=SYSTEM,
            occurred_at=at, recorded_at=at, details={"tier": tier.name if tier else "none"},
        ))
    docs.usage.record(evaluation.awards, ctx.rules, member_id=member_id, local_date=local_date)
    order = _order_document(member_id, purchase, None, payload_hash, entry, at)
    docs.orders.append(order)
    docs.events.append(order_events.recorded(order).document())


def _redeem(
    ctx: SeedContext, docs: MemberDocs, index: int, n: int, at: datetime,
    rng: random.Random, *, at_till: bool,
) -> None:
    """scanner.reward_redemption `redeem_reward` by the member (skipped when the product
    would refuse it); with `at_till`, the voucher is then used at a till two days later."""
    book, reward, member_id = docs.book, ctx.reward, docs.book.member_id
    member = book.state()
    balance = spendable_at(book, at)
    try:
        cost = price_to_redeem(
            reward, Redeemer(tier_id=member.tier.tier_id, balance=balance,
                             reward_counts=member.reward_counts or {}),
            tiers=ctx.programme.tiers, now=at, stock_taken=True,
            timezone=ctx.programme.timezone,
        )
    except KizunaError:
        return
    key = f"reward:{member_id}:scale-{ctx.run}-{index}-{n}"
    title = reward.draft.title
    entry = book.debit(
        Movement(key=key, kind=EntryKind.REDEEM, reason=f"Reward: {title}",
                 source=Source("REWARD", reward.id), actor=Actor("MEMBER", member_id),
                 occurred_at=at, recorded_at=at,
                 payload_hash=fingerprint({"member": member_id, "reward": reward.id}),
                 details={"reward_id": reward.id, "title": title,
                          "balance_after": balance - cost}),
        points=cost, member_changes=held_change(reward.id, 1),
    )
    if entry is None:
        return
    voucher = voucher_document(
        member_id=member_id, holder_name=docs.account["name"], benefit=_benefit(reward),
        restrictions=Restrictions(channels=reward.draft.channels,
                                  min_order_total=reward.draft.min_order_total),
        valid_days=reward.draft.voucher_valid_days, source_kind=SourceKind.REWARD,
        source_reference=entry.id, now=at, issue_key=key,
    )
    docs.vouchers.append(voucher)
    docs.events.append(voucher_events.issued(voucher).document())
    if at_till:
        docs.scans += redeem_at_till(
            voucher, scanner=rng.choice(ctx.scanners), at=at + timedelta(days=2),
            order_reference=f"TILL-{ctx.run}-{index}-{n}", order_total=TILL_ORDER_TOTAL,
            idempotency_key=f"till-{ctx.run}-{index}-{n}",
        )
        redeemed = voucher_events.redeemed(voucher["redemption"], status=voucher["status"])
        docs.events.append(redeemed.resolved(voucher).document())
