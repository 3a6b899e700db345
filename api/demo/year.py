"""A year of the programme's life, replayed in time order on the demo clock: members join
(some through a friend's referral code), buy at the tills and online, answer the survey,
redeem rewards and use the vouchers at a till, return a few orders; every night the
server's jobs expire points, review tiers and give birthday gifts."""

import functools
import heapq
import itertools
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from api.demo.catalogue import CURRENCY, MUTATIONS, PRODUCTS, SHOPS
from api.demo.client import DemoClient
from api.demo.clock import DemoClock
from api.demo.people import Person
from api.demo.setup import Programme, Reward, StaffMember
from auth.accounts import Account, register_member
from auth.passwords import Passwords
from auth.tokens import AccessTokens
from loyalty.engagement import referrals
from loyalty.engagement.birthdays import CATCH_UP_DAYS
from loyalty.ledger.expiry import expire_due_lots
from loyalty.members import directory
from loyalty.tiers.moves import reevaluate_ladder, review_due_tiers
from scanner.gifts import deliver_pending_gifts, grant_birthday_gifts
from store import Store

_REDEEM_REFUSALS = frozenset({"INSUFFICIENT_POINTS", "OUT_OF_STOCK", "NOT_ELIGIBLE_TIER",
                              "LIMIT_REACHED"})
_TILL_REFUSALS = frozenset({"EXPIRED", "ALREADY_REDEEMED", "CANCELLED", "ORDER_TOTAL_TOO_LOW"})
_NIGHTLY_JOBS_HOUR = 3
# The server's jobs run every few minutes; the demo runs them once every CATCH_UP_DAYS
# nights: birthday gifts catch up that many days, expiries land within the week, and the
# year loads faster.
_JOBS_EVERY = timedelta(days=CATCH_UP_DAYS)


@dataclass(slots=True)
class MemberState:
    person: Person
    account: Account
    points: int = 0
    """What the demo believes the balance is (orders, refunds and redemptions it saw); a
    redemption's answer puts it right."""
    open_vouchers: list[str] = field(default_factory=list)
    redeemed: int = 0


@dataclass(frozen=True, slots=True)
class Cast:
    """Who acts in the year: the database and what signs tokens for accounts."""

    store: Store
    client: DemoClient
    clock: DemoClock
    tokens: AccessTokens
    passwords: Passwords
    member_password: str
    staff: dict[str, Account]
    """Staff accounts by email."""


class Year:
    """The year's events in a queue ordered by time; running one may schedule others."""

    def __init__(self, cast: Cast, programme: Programme, *, rng: random.Random,
                 end: datetime) -> None:
        self._cast, self._programme, self._rng, self._end = cast, programme, rng, end
        self._queue: list[tuple[datetime, int, Callable[[], Awaitable[None]]]] = []
        self._sequence = itertools.count()
        self._orders = itertools.count(1)
        self.members: list[MemberState] = []
        self.counts: Counter[str] = Counter()

    def at(self, moment: datetime, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` at `moment` (or now, if that is past), if before the end."""
        moment = max(moment, self._cast.clock())
        if moment < self._end:
            heapq.heappush(self._queue, (moment, next(self._sequence), action))

    async def run(self, persons: list[Person], *, start: datetime) -> None:
        """Replay the year from `start` to the end given at construction."""
        for person in persons:
            self.at(person.joins_at, functools.partial(self._join, person))
        night = start.replace(hour=_NIGHTLY_JOBS_HOUR) + timedelta(days=1)
        while night < self._end:
            self.at(night, self._nightly_jobs)
            night += _JOBS_EVERY
        while self._queue:
            moment, _, action = heapq.heappop(self._queue)
            self._cast.clock.set(moment)
            await action()

    def token(self, account: Account) -> str:
        return self._cast.tokens.issue(account.principal()).token

    async def balance(self, member: MemberState) -> int:
        """The member's balance as the member reads it."""
        data = await self._cast.client.data("{ me { points { balance } } }",
                                            token=self.token(member.account))
        balance: int = data["me"]["points"]["balance"]
        return balance

    async def _join(self, person: Person) -> None:
        store = self._cast.store
        referrer = (self.members[person.referred_by] if person.referred_by is not None
                    and person.referred_by < len(self.members) else None)
        then = []
        if referrer is not None:
            code = await referrals.referral_code(store, member_id=referrer.account.id)
            then.append(await referrals.enrolment(store, referral_code=code))
            self.counts["referrals"] += 1
        account = await register_member(
            store, self._cast.passwords, email=person.email, password=self._cast.member_password,
            name=person.name, birthday=person.birthday, marketing_consent=self._rng.random() < .6,
            clock=self._cast.clock, enrolment=directory.enrolment(store, *then))
        member = MemberState(person, account)
        self.members.append(member)
        self.counts["members"] += 1
        # They join at a till, buying something; then they come back at their own pace.
        moment = person.joins_at + timedelta(minutes=self._rng.randint(2, 30))
        per_second = person.orders_per_month / (30 * 86400)
        while moment < self._end:
            self.at(self._opening_hours(moment), functools.partial(self._order, member))
            moment += timedelta(seconds=self._rng.expovariate(per_second))
        if self._rng.random() < 0.35:
            self.at(person.joins_at + timedelta(days=self._rng.randint(1, 20)),
                    lambda: self._survey(member))

    def _opening_hours(self, moment: datetime) -> datetime:
        """The same day between 7:00 and 20:59 UTC (the shops' and the web shop's busy
        hours)."""
        if 7 <= moment.hour <= 20:
            return moment
        return moment.replace(hour=self._rng.randint(7, 20))

    async def _order(self, member: MemberState) -> None:
        rng = self._rng
        lines = [rng.choice(PRODUCTS) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
        quantities = [rng.choice((1, 1, 1, 2)) for _ in lines]
        items = [{"sku": p.sku, "category": p.category, "quantity": q, "unitPrice": p.unit_price}
                 for p, q in zip(lines, quantities, strict=True)]
        order_id = f"DEMO-{next(self._orders):06d}"
        total = sum(p.unit_price * q for p, q in zip(lines, quantities, strict=True))
        payload = await self._cast.client.payload("orderRecord", MUTATIONS["orderRecord"], {
            "member": {"email": member.person.email}, "orderId": order_id,
            "channel": "STORE" if rng.random() < 0.7 else "ONLINE",
            "total": total, "currency": CURRENCY,
            "items": items, "occurredAt": self._cast.clock().isoformat(),
        }, token=self._programme.shop_key)
        assert payload is not None  # noqa: S101 - no refusal is expected
        member.points += payload["pointsEarned"]
        self.counts["orders"] += 1
        if rng.random() < 0.04:
            returned = timedelta(days=rng.randint(1, 14), hours=rng.randint(0, 5))
            self.at(self._cast.clock() + returned, lambda: self._refund(order_id, total))
        if rng.random() < 0.45:
            await self._redeem(member)

    async def _refund(self, order_id: str, amount: int) -> None:
        """The whole order returned (its points reversed; what was spent becomes debt)."""
        await self._cast.client.payload("orderRefund", MUTATIONS["orderRefund"], {
            "orderId": order_id, "refundId": f"{order_id}-R1", "amount": amount},
            token=self._programme.shop_key)
        self.counts["refunds"] += 1

    async def _redeem(self, member: MemberState) -> None:
        """Redeem a reward the member can afford, often the dearest. The featured member
        uses every voucher at a till and, after the first, keeps enough points for two of
        the cheapest reward: one at the end of the year, one while you try the demo."""
        featured = member.person.number == 0
        cheapest = min(reward.cost for reward in self._programme.rewards)
        margin = 2 * cheapest if featured and member.redeemed else 0
        affordable = [r for r in self._programme.rewards if r.cost + margin <= member.points]
        if not affordable:
            return
        reward = max(affordable, key=lambda r: r.cost) if self._rng.random() < .5 else \
            self._rng.choice(affordable)
        payload = await self._cast.client.payload(
            "rewardRedeem", MUTATIONS["rewardRedeem"],
            {"rewardId": reward.id, "idempotencyKey": f"demo-{next(self._sequence)}"},
            token=self.token(member.account), expected=_REDEEM_REFUSALS)
        if payload is None:  # points expired since, or not the tier: look again
            member.points = await self.balance(member)
            return
        member.points = payload["balance"]
        member.redeemed += 1
        self.counts["rewards redeemed"] += 1
        code = payload["voucher"]["code"]
        if featured or self._rng.random() < 0.75:
            shop = SHOPS[member.person.home_shop].code
            clerk = self._rng.choice([s for s in self._programme.staff if s.store_code == shop])
            self.at(self._opening_hours(self._cast.clock() + timedelta(
                days=self._rng.randint(0, 20), hours=self._rng.randint(1, 8))),
                lambda: self._use_voucher(code, clerk))
        else:
            member.open_vouchers.append(code)

    async def _use_voucher(self, code: str, clerk: StaffMember) -> None:
        till = f"TILL-{clerk.store_code}-{next(self._orders):06d}"
        redeemed = await self._cast.client.payload("voucherRedeem", MUTATIONS["voucherRedeem"], {
            "code": code, "orderReference": till, "orderTotal": 2400,
            "idempotencyKey": f"demo-{till}"},
            token=self.token(self._cast.staff[clerk.email]), expected=_TILL_REFUSALS)
        if redeemed is not None:
            self.counts["vouchers used at a till"] += 1

    async def _survey(self, member: MemberState) -> None:
        score = self._rng.choices(range(11), (1, 1, 1, 1, 2, 3, 4, 8, 14, 16, 14))[0]
        await self._cast.client.payload("surveySubmit", MUTATIONS["surveySubmit"], {
            "surveyId": self._programme.survey_id, "score": score,
            "comment": self._rng.choice((None, None, "Lovely baristas.", "The queue was long.",
                                         "Best flat white in town.", "More oat milk please!")),
        }, token=self.token(member.account))
        self.counts["survey answers"] += 1

    async def _nightly_jobs(self) -> None:
        """What every server's job loop does (api/jobs.py)."""
        store, clock = self._cast.store, self._cast.clock
        expired = await expire_due_lots(store, clock=clock)
        self.counts["points expired"] += expired.points_expired
        await review_due_tiers(store, clock=clock)
        await reevaluate_ladder(store, clock=clock)
        self.counts["birthday gifts"] += await grant_birthday_gifts(store, clock=clock)
        await deliver_pending_gifts(store, clock=clock)

    async def finish(self, featured: MemberState) -> None:
        """Give the featured member a fresh voucher to show at a till, once the queue is
        done (at the end of the year)."""
        cheapest = min(self._programme.rewards, key=lambda r: r.cost)
        await self._redeem_cheapest(featured, cheapest)

    async def _redeem_cheapest(self, member: MemberState, reward: Reward) -> None:
        payload = await self._cast.client.payload(
            "rewardRedeem", MUTATIONS["rewardRedeem"],
            {"rewardId": reward.id, "idempotencyKey": f"demo-{next(self._sequence)}"},
            token=self.token(member.account), expected=_REDEEM_REFUSALS)
        if payload is not None:
            member.points = payload["balance"]
            member.open_vouchers.append(payload["voucher"]["code"])
            self.counts["rewards redeemed"] += 1
