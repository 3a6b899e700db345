"""Birthday gifts: once per member and year, on the local day in the programme's time zone,
29 February on 28 February in other years, and only with 30 days' notice."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from scanner.gifts import grant_birthday_gifts
from tests.ledger_support import Shop, open_shop
from tests.support import DEFAULT_PASSWORD, GraphQLClient, ManualClock, SignedIn

START = datetime(2030, 12, 1, 10, 0, tzinfo=UTC)

GIFT_SET = """
mutation($input: BirthdayGiftSetInput!) { birthdayGiftSet(input: $input) {
  birthdayGift { daysBefore gift { points voucher { title valid_days: validDays } } }
  errors { code message field } } }"""

BIRTHDAY_SET = """
mutation($input: AccountBirthdaySetInput!) { accountBirthdaySet(input: $input) {
  member { birthday } errors { code message field } } }"""

HISTORY = "{ me { history(first: 20) { edges { node { kind points reason } } } } }"


@pytest.fixture
def clock() -> ManualClock:
    # Fixed dates (years ahead of the wall clock, which TTL indexes go by).
    return ManualClock(START)


async def _shop(gql: GraphQLClient, gift: dict[str, Any], days_before: int = 0) -> Shop:
    shop = await open_shop(gql)
    data = await gql.data(GIFT_SET, {"input": {"gift": gift, "daysBefore": days_before}},
                          token=shop.admin.access_token)
    assert data["birthdayGiftSet"]["errors"] == [], data
    return shop


async def _member(gql: GraphQLClient, email: str, birthday: str | None) -> None:
    data = await gql.data(
        """mutation($input: AccountRegisterInput!) { accountRegister(input: $input) {
             errors { code } } }""",
        {"input": {"email": email, "password": DEFAULT_PASSWORD, "name": "Ann",
                   "birthday": birthday}},
    )
    assert data["accountRegister"]["errors"] == [], data


async def _run(gql: GraphQLClient, times: int = 1) -> int:
    services = gql.state.services
    runs = await asyncio.gather(*(
        grant_birthday_gifts(services.store, clock=services.clock) for _ in range(times)
    ))
    return sum(runs)


def _at(gql: GraphQLClient, moment: datetime) -> None:
    clock = gql.state.services.clock
    assert isinstance(clock, ManualClock) and moment >= clock.now
    clock.now = moment


async def _gifts(shop: Shop, email: str) -> list[tuple[int, str]]:
    member: SignedIn = await shop.sign_in(email)
    data = await shop.gql.data(HISTORY, token=member.access_token)
    return [(e["node"]["points"], e["node"]["reason"]) for e in data["me"]["history"]["edges"]]


async def test_birthday_points_are_given_once_on_the_day_even_by_concurrent_runs(
    gql: GraphQLClient,
) -> None:
    await _member(gql, "ann@example.com", "1990-07-15")
    await _member(gql, "bob@example.com", "1985-07-16")
    shop = await _shop(gql, {"points": 250})

    _at(gql, datetime(2031, 7, 14, 12, tzinfo=UTC))
    eve = await _run(gql)
    _at(gql, datetime(2031, 7, 15, 9, tzinfo=UTC))
    on_the_day = await _run(gql, times=6)
    later_that_day = await _run(gql)
    _at(gql, datetime(2031, 7, 16, 9, tzinfo=UTC))
    next_day = await _run(gql, times=3)

    assert (eve, on_the_day, later_that_day, next_day) == (0, 1, 0, 1)  # Bob's, on the 16th
    assert await _gifts(shop, "ann@example.com") == [(250, "Happy birthday!")]
    assert await shop.violations() == []


@pytest.mark.parametrize(("timezone", "before", "after"), [
    # 23:30 and 00:30 local time; the UTC date is the birthday only in the first moment
    # in Los Angeles, only in the second in Tokyo.
    ("America/Los_Angeles", datetime(2031, 7, 15, 6, 30, tzinfo=UTC),
     datetime(2031, 7, 15, 7, 30, tzinfo=UTC)),
    ("Asia/Tokyo", datetime(2031, 7, 14, 14, 30, tzinfo=UTC),
     datetime(2031, 7, 14, 15, 30, tzinfo=UTC)),
])
async def test_the_birthday_starts_at_midnight_in_the_programmes_time_zone(
    gql: GraphQLClient, timezone: str, before: datetime, after: datetime,
) -> None:
    await _member(gql, "ann@example.com", "1990-07-15")
    shop = await _shop(gql, {"points": 100})
    data = await gql.data(
        """mutation($tz: String!) { programmeUpdate(input: {timezone: $tz}) {
             errors { code } } }""", {"tz": timezone}, token=shop.admin.access_token)
    assert data["programmeUpdate"]["errors"] == []

    _at(gql, before)
    before_midnight = await _run(gql)
    _at(gql, after)
    after_midnight = await _run(gql)

    assert (before_midnight, after_midnight) == (0, 1)


async def test_a_29_february_birthday_is_celebrated_on_28_february_in_other_years(
    gql: GraphQLClient,
) -> None:
    _at(gql, datetime(2031, 1, 2, 10, tzinfo=UTC))
    await _member(gql, "ann@example.com", "2000-02-29")
    shop = await _shop(gql, {"points": 29})

    _at(gql, datetime(2031, 2, 28, 10, tzinfo=UTC))  # 2031 has no 29 February
    in_2031 = await _run(gql)
    _at(gql, datetime(2031, 3, 1, 10, tzinfo=UTC))
    day_after = await _run(gql)
    _at(gql, datetime(2032, 2, 28, 10, tzinfo=UTC))  # 2032 has one
    on_28_feb_2032 = await _run(gql)
    _at(gql, datetime(2032, 2, 29, 10, tzinfo=UTC))
    on_29_feb_2032 = await _run(gql)

    assert (in_2031, day_after, on_28_feb_2032, on_29_feb_2032) == (1, 0, 0, 1)
    assert await _gifts(shop, "ann@example.com") == [(29, "Happy birthday!")] * 2


async def test_a_birthday_set_ten_days_ahead_counts_only_from_next_year(
    gql: GraphQLClient,
) -> None:
    await _member(gql, "ann@example.com", None)
    await _member(gql, "bob@example.com", "1980-07-15")  # known since December
    shop = await _shop(gql, {"points": 100})
    _at(gql, datetime(2031, 7, 5, 10, tzinfo=UTC))
    # Ann gives her birthday; Bob corrects only his year of birth, not the day.
    for email in ("ann@example.com", "bob@example.com"):
        member = await shop.sign_in(email)
        data = await gql.data(BIRTHDAY_SET, {"input": {"birthday": "1990-07-15"}},
                              token=member.access_token)
        assert data["accountBirthdaySet"] == {"member": {"birthday": "1990-07-15"},
                                              "errors": []}

    _at(gql, datetime(2031, 7, 15, 10, tzinfo=UTC))
    this_year = await _run(gql)
    _at(gql, datetime(2032, 7, 15, 10, tzinfo=UTC))
    next_year = await _run(gql)

    assert this_year == 1  # Bob only
    assert next_year == 2
    assert await _gifts(shop, "ann@example.com") == [(100, "Happy birthday!")]


async def test_notice_is_counted_to_the_gift_day_not_to_the_birthday(
    gql: GraphQLClient,
) -> None:
    await _member(gql, "ann@example.com", None)
    await _member(gql, "bob@example.com", None)
    shop = await _shop(gql, {"points": 100}, days_before=30)
    _at(gql, datetime(2031, 6, 15, 10, tzinfo=UTC))
    # Ann's birthday is 30 days away: its gift would be due today, with no notice at all.
    # Bob's is 60 days away: its gift is due in 30 days, which is the notice asked for.
    for email, birthday in (("ann@example.com", "1990-07-15"), ("bob@example.com",
                                                                "1990-08-14")):
        member = await shop.sign_in(email)
        data = await gql.data(BIRTHDAY_SET, {"input": {"birthday": birthday}},
                              token=member.access_token)
        assert data["accountBirthdaySet"]["errors"] == []

    today = await _run(gql)
    _at(gql, datetime(2031, 7, 15, 10, tzinfo=UTC))
    in_thirty_days = await _run(gql)
    _at(gql, datetime(2032, 6, 15, 10, tzinfo=UTC))
    next_year = await _run(gql)

    assert (today, in_thirty_days, next_year) == (0, 1, 1)
    assert await _gifts(shop, "ann@example.com") == [(100, "Happy birthday!")]
    assert await _gifts(shop, "bob@example.com") == [(100, "Happy birthday!")]


async def test_changing_the_birthday_after_the_gift_gives_no_second_gift_that_year(
    gql: GraphQLClient,
) -> None:
    await _member(gql, "ann@example.com", "1990-07-15")
    shop = await _shop(gql, {"points": 100})
    _at(gql, datetime(2031, 7, 15, 10, tzinfo=UTC))
    first = await _run(gql)
    ann = await shop.sign_in("ann@example.com")
    await gql.data(BIRTHDAY_SET, {"input": {"birthday": "1990-10-01"}}, token=ann.access_token)

    _at(gql, datetime(2031, 10, 1, 10, tzinfo=UTC))
    moved = await _run(gql)

    assert (first, moved) == (1, 0)


async def test_a_birthday_voucher_comes_days_before_and_only_once(gql: GraphQLClient) -> None:
    await _member(gql, "ann@example.com", "1990-07-15")
    await _shop(gql, {"voucher": {"kind": "AMOUNT_OFF", "title": "Birthday treat",
                                  "amountOff": 500, "currency": "eur", "validDays": 14}},
                days_before=3)

    _at(gql, datetime(2031, 7, 12, 10, tzinfo=UTC))
    given = await _run(gql, times=4)
    again = await _run(gql)
    ann = await gql.sign_in("ann@example.com")
    data = await gql.data(
        "{ me { vouchers(first: 5) { edges { node { title amountOff currency expiresAt } } } } }",
        token=ann["accessToken"])

    assert (given, again) == (1, 0)
    assert [e["node"] for e in data["me"]["vouchers"]["edges"]] == [{
        "title": "Birthday treat", "amountOff": 500, "currency": "EUR",
        "expiresAt": "2031-07-26T10:00:00+00:00"}]


async def test_gift_settings_are_checked_and_for_administrators_only(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await _member(gql, "ann@example.com", None)
    ann = await shop.sign_in("ann@example.com")
    admin = shop.admin.access_token

    no_amount = await gql.data(GIFT_SET, {"input": {"gift": {"voucher": {
        "kind": "AMOUNT_OFF", "title": "Treat", "currency": "EUR", "validDays": 7}}}},
        token=admin)
    too_early = await gql.data(GIFT_SET, {"input": {"gift": {"points": 5}, "daysBefore": 31}},
                               token=admin)
    future = await gql.data(BIRTHDAY_SET, {"input": {"birthday": "2040-01-01"}},
                            token=ann.access_token)
    denied = await gql.execute(GIFT_SET, {"input": {"gift": {"points": 5}}},
                               token=ann.access_token)
    off = await gql.data(GIFT_SET, {"input": {}}, token=admin)
    settings = await gql.data("{ giftSettings { birthdayGift { daysBefore } } }", token=admin)

    assert [(e["code"], e["field"]) for e in no_amount["birthdayGiftSet"]["errors"]] == [
        ("INVALID_INPUT", ["input", "gift", "voucher", "amountOff"])]
    assert [e["field"] for e in too_early["birthdayGiftSet"]["errors"]] == [
        ["input", "daysBefore"]]
    assert [e["field"] for e in future["accountBirthdaySet"]["errors"]] == [
        ["input", "birthday"]]
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert off["birthdayGiftSet"] == {"birthdayGift": None, "errors": []}
    assert settings["giftSettings"] == {"birthdayGift": None}
