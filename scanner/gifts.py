"""Gifts that may be vouchers: the birthday job, referral vouchers waiting in the outbox,
and the administrators' settings (a voucher gift is checked like any voucher).

Points gifts are written by `loyalty` (birthdays here call it; referral points are credited
in the first order's transaction). Vouchers are issued here because only `scanner` may
issue them; each one in the same transaction as its gift record, whose `_id` is the
once-only key, so job runs on several servers at once give every gift exactly once.
"""

import logging
from collections.abc import Sequence
from dataclasses import replace

from auth.accounts import Account, get_account, members_born_on
from events.audit import Audit
from loyalty.engagement.birthdays import (
    BirthdayGift,
    birthdays_to_celebrate,
    gift_is_due,
    gift_key,
    grant_birthday_points,
    load_birthday_gift,
    month_days,
    save_birthday_gift,
)
from loyalty.engagement.gifts import (
    Gift,
    GiftStatus,
    Occasion,
    PendingGift,
    VoucherGift,
    attach_voucher,
    check_points,
    claim_pending,
    given_keys,
    pending_gifts,
    record_gift,
)
from loyalty.engagement.referrals import ReferralReward, save_referral_reward
from loyalty.programme.settings import load_programme
from scanner.vouchers import (
    MAX_VALIDITY_DAYS,
    Benefit,
    Restrictions,
    SourceKind,
    VoucherKind,
    issue_voucher,
    validate_benefit,
)
from store import InputErrors, InvalidInput, KizunaError, Session, Store, is_duplicate_key
from store.clock import Clock

_log = logging.getLogger(__name__)
PAGE_SIZE = 100
_SOURCE = {occasion: SourceKind(occasion.value) for occasion in Occasion}


def _under(error: KizunaError, prefix: tuple[str, ...]) -> KizunaError:
    """`error` with its field moved under `prefix` (voucher checks name top-level fields)."""
    if isinstance(error, InputErrors):
        return InputErrors([_under(e, prefix) for e in error.errors])
    return type(error)(error.message, field=(*prefix, *(error.field or ("input",))[1:]))


def check_gift(gift: Gift, *, field: tuple[str, ...]) -> Gift:
    """The gift, normalised: exactly one of points (1–1,000,000) or a valid voucher."""
    if (gift.points is None) == (gift.voucher is None):
        raise InvalidInput("Give points or a voucher.", field=field)
    if gift.points is not None:
        return Gift(points=check_points(gift.points, field=(*field, "points")))
    voucher = gift.voucher
    assert voucher is not None  # noqa: S101 - checked above
    where = (*field, "voucher")
    try:
        benefit = validate_benefit(_benefit(voucher), Restrictions())
    except KizunaError as error:
        raise _under(error, where) from None
    if not 1 <= voucher.valid_days <= MAX_VALIDITY_DAYS:
        raise InvalidInput(f"Validity must be 1 to {MAX_VALIDITY_DAYS} days.",
                           field=(*where, "validDays"))
    return Gift(voucher=replace(voucher, title=benefit.title, currency=benefit.currency,
                                product_sku=benefit.product_sku))


def _benefit(voucher: VoucherGift) -> Benefit:
    return Benefit(VoucherKind(voucher.kind), voucher.title, voucher.amount_off,
                   voucher.percent_off, voucher.currency, voucher.product_sku)


async def set_birthday_gift(store: Store, *, gift: Gift | None, days_before: int,
                            clock: Clock, audit: Audit | None) -> BirthdayGift | None:
    """Switch the birthday gift on (or change it), or off with None. Raises InvalidInput."""
    checked = check_gift(gift, field=("input", "gift")) if gift is not None else None
    return await save_birthday_gift(
        store, BirthdayGift(checked, days_before) if checked else None, clock=clock,
        audit=audit,
    )


async def set_referral_reward(store: Store, *, referrer: Gift | None, referee: Gift | None,
                              clock: Clock, audit: Audit | None) -> ReferralReward | None:
    """Set what each side of a referral gets (None: nothing). Raises InvalidInput."""
    reward = ReferralReward(
        referrer=check_gift(referrer, field=("input", "referrer")) if referrer else None,
        referee=check_gift(referee, field=("input", "referee")) if referee else None,
    )
    return await save_referral_reward(store, reward, clock=clock, audit=audit)


async def _issue(store: Store, session: Session, *, key: str, member_id: str,
                 holder_name: str, voucher: VoucherGift, occasion: Occasion,
                 clock: Clock) -> None:
    issued, _ = await issue_voucher(
        store, member_id=member_id, holder_name=holder_name, benefit=_benefit(voucher),
        restrictions=Restrictions(), valid_days=voucher.valid_days,
        source_kind=_SOURCE[occasion], source_reference=key, clock=clock, issue_key=key,
        session=session, audit=None,  # the programme's own gift, from a job
    )
    await attach_voucher(store, session, key=key, voucher_id=issued.id)


async def _give_birthday_gift(store: Store, account: Account, year: int, gift: Gift,
                              clock: Clock) -> bool:
    if gift.points is not None:
        return await grant_birthday_points(store, member_id=account.id, year=year,
                                           points=gift.points, clock=clock)
    voucher = gift.voucher
    assert voucher is not None  # noqa: S101 - a checked gift is points or a voucher
    key = gift_key(account.id, year)

    async def work(session: Session) -> None:
        # The record first: a concurrent run fails here, before any voucher exists.
        await record_gift(store, session, key=key, member_id=account.id,
                          occasion=Occasion.BIRTHDAY, gift=gift, status=GiftStatus.GRANTED,
                          now=clock(), details={"year": year})
        await _issue(store, session, key=key, member_id=account.id, holder_name=account.name,
                     voucher=voucher, occasion=Occasion.BIRTHDAY, clock=clock)

    try:
        await store.transaction(work)
    except Exception as error:
        if not is_duplicate_key(error):
            raise
        return False
    return True


async def grant_birthday_gifts(store: Store, *, clock: Clock) -> int:
    """Give today's birthday gifts (and those of the catch-up window not given yet);
    returns how many were given now. Safe to run any number of times, concurrently."""
    setting = await load_birthday_gift(store)
    if setting is None:
        return 0
    timezone = (await load_programme(store)).timezone
    today = clock().astimezone(timezone).date()
    granted = 0
    for day in birthdays_to_celebrate(today, setting, timezone):
        after: str | None = None
        while True:
            page = await members_born_on(store, month_days=month_days(day), after_id=after,
                                         limit=PAGE_SIZE)
            due = [a for a in page if a.birthday is not None and gift_is_due(
                birthday=a.birthday, set_at=a.birthday_set_at or a.created_at, day=day,
                days_before=setting.days_before, timezone=timezone)]
            given = await given_keys(store, [gift_key(a.id, day.year) for a in due])
            for account in due:
                if gift_key(account.id, day.year) not in given and await _give_birthday_gift(
                    store, account, day.year, setting.gift, clock
                ):
                    granted += 1
            if len(page) < PAGE_SIZE:
                break
            after = page[-1].id
    return granted


async def _deliver(store: Store, pending: PendingGift, *, clock: Clock) -> bool:
    account = await get_account(store, pending.member_id)

    async def work(session: Session) -> bool:
        if not await claim_pending(store, session, key=pending.key, now=clock()):
            return False
        await _issue(store, session, key=pending.key, member_id=pending.member_id,
                     holder_name=account.name if account else "", voucher=pending.voucher,
                     occasion=pending.occasion, clock=clock)
        return True

    return await store.transaction(work)


async def deliver_gifts_now(store: Store, *, keys: Sequence[str], clock: Clock) -> int:
    """Issue the vouchers of the PENDING gifts `keys` just decided (an order's referral
    rewards), so the members have them at once; returns how many were issued. A failure is
    logged and left to `deliver_pending_gifts`: the gifts stay PENDING."""
    issued = 0
    try:
        for pending in await pending_gifts(store, limit=len(keys), keys=keys):
            issued += await _deliver(store, pending, clock=clock)
    except Exception:
        _log.exception("could not issue gifts %s now; the gifts job will", list(keys))
    return issued


async def deliver_pending_gifts(store: Store, *, clock: Clock) -> int:
    """Issue the vouchers of PENDING gifts (referral rewards decided in an order's
    transaction); returns how many were issued now. Each is issued exactly once, also when
    several servers run this at the same time."""
    delivered = 0
    while True:
        batch = await pending_gifts(store, limit=PAGE_SIZE)
        progress = 0
        for pending in batch:
            try:
                progress += await _deliver(store, pending, clock=clock)
            except Exception:
                # One bad gift must not hold up the others; it stays PENDING for the next run.
                _log.exception("could not issue the voucher of gift %s", pending.key)
        delivered += progress
        if len(batch) < PAGE_SIZE or not progress:
            return delivered
