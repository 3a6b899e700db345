"""Every date a member reads is in the programme's time zone and names it: the same rule's
end reads the same in offers, in `howToEarn` and in a reward's early-access message."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from loyalty.member_dates import ends, local_day, local_time, starts, window, zone_note
from tests.reward_support import RewardShop, ladder, open_reward_shop
from tests.support import GraphQLClient

AUCKLAND = ZoneInfo("Pacific/Auckland")  # UTC+13 in December
LOS_ANGELES = ZoneInfo("America/Los_Angeles")  # UTC-8 in December

# --- the wording, without a database ------------------------------------------------------


def test_a_deadline_reads_as_its_local_day_not_its_utc_day() -> None:
    # 12:30 UTC on Sat 5 Dec is already 01:30 on Sun 6 Dec in Auckland.
    instant = datetime(2026, 12, 5, 12, 30, tzinfo=UTC)

    assert local_day(instant, AUCKLAND) == "Sun 6 Dec 2026 (Pacific/Auckland time)"
    assert local_time(instant, AUCKLAND) == "Sun 6 Dec 2026, 01:30 (Pacific/Auckland time)"
    assert local_time(instant, LOS_ANGELES) == (
        "Sat 5 Dec 2026, 04:30 (America/Los_Angeles time)")


def test_an_exclusive_end_at_local_midnight_reads_as_the_last_day_it_covers() -> None:
    # Mon 7 Dec 00:00 in Auckland (11:00 UTC on Sun 6 Dec): Sun 6 Dec is the last day.
    midnight = datetime(2026, 12, 6, 11, tzinfo=UTC)

    assert ends(midnight, AUCKLAND) == "Sun 6 Dec 2026 (Pacific/Auckland time)"
    assert ends(midnight + timedelta(minutes=90), AUCKLAND) == (
        "Mon 7 Dec 2026, 01:30 (Pacific/Auckland time)")
    assert starts(midnight, AUCKLAND) == "Mon 7 Dec 2026 (Pacific/Auckland time)"


def test_a_window_names_its_zone_once() -> None:
    start = datetime(2025, 11, 28, 23, tzinfo=UTC)  # Sat 29 Nov 00:00 in Paris
    paris = ZoneInfo("Europe/Paris")

    assert window(start, start + timedelta(days=2), paris) == (
        "from Sat 29 Nov 2025 to Sun 30 Nov 2025 (Europe/Paris time)")
    assert window(start, start + timedelta(days=1), paris) == (
        "on Sat 29 Nov 2025 (Europe/Paris time)")
    assert window(None, start, paris) == "until Fri 28 Nov 2025 (Europe/Paris time)"
    assert window(None, None, paris) == ""


def test_utc_is_named_plainly_and_a_calendar_date_is_taken_as_it_is() -> None:
    assert zone_note(ZoneInfo("UTC")) == "(UTC)"
    assert local_day(date(2026, 2, 28), AUCKLAND) == "Sat 28 Feb 2026 (Pacific/Auckland time)"


def test_a_naive_time_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="aware"):
        local_time(datetime(2026, 12, 5, 12, 30), AUCKLAND)


# --- what members read, through the API ----------------------------------------------------

PROGRAMME_ZONE = """mutation($tz: String!) { programmeUpdate(input: {timezone: $tz}) {
  errors { code } } }"""
OFFERS = "{ me { offers(first: 5) { kind title explanation } } }"


async def _programme_in(shop: RewardShop, zone: ZoneInfo) -> None:
    data = await shop.gql.data(PROGRAMME_ZONE, {"tz": str(zone)}, token=shop.admin_token)
    assert data["programmeUpdate"]["errors"] == []


def _local_end(shop: RewardShop, zone: ZoneInfo, at: time) -> datetime:
    """`at` o'clock in `zone`, ten days from now: an instant whose UTC date is another."""
    day = (shop.shop.now() + timedelta(days=10)).astimezone(zone).date()
    end = datetime.combine(day, at, tzinfo=zone)
    assert end.astimezone(UTC).date() != day
    return end


def _reads(end: datetime, zone: ZoneInfo) -> str:
    return f"{end:%a} {end.day} {end:%b} {end.year}, {end:%H:%M} ({zone} time)"


def _utc_day(end: datetime) -> str:
    utc = end.astimezone(UTC)
    return f"{utc:%a} {utc.day} {utc:%b}"


@pytest.mark.parametrize(("zone", "at"), [(AUCKLAND, time(1, 30)), (LOS_ANGELES, time(20))])
async def test_a_campaign_end_reads_the_same_local_day_in_offers_rules_and_early_access(
    gql: GraphQLClient, zone: ZoneInfo, at: time,
) -> None:
    shop = await open_reward_shop(gql)
    await _programme_in(shop, zone)
    tiers = await ladder(shop)
    ann = await shop.member("ann@example.com", points=300)
    await gql.consent(ann)  # personal offers need the member's consent
    await shop.shop.record(shop.shop.order("ann@example.com", 6_000))  # shoes: her favourite
    end = _local_end(shop, zone, at)
    await shop.shop.rule({"name": "Shoe fortnight", "trigger": "ORDER",
                          "conditions": {"categoriesInclude": ["shoes"],
                                         "endsAt": end.isoformat()},
                          "formula": {"kind": "MULTIPLIER", "factor": 2}})
    await shop.create(title="Gold first", cost=10, earlyAccessUntil=end.isoformat(),
                      earlyAccessTierId=tiers["Gold"])
    expected = _reads(end, zone)

    offers = (await gql.data(OFFERS, token=ann.access_token))["me"]["offers"]
    rules = (await gql.data("{ programRules { name howToEarn } }"))["programRules"]
    rewards = {r["title"]: r for r in await shop.catalogue(ann)}

    assert offers == [{"kind": "CAMPAIGN", "title": "Shoe fortnight",
                       "explanation": f"Shoe fortnight — on shoes, your favourite category "
                                      f"until {expected}."}]
    assert rules == [{"name": "Shoe fortnight",
                      "howToEarn": f"Double points on shoes until {expected}"}]
    assert rewards["Gold first"]["ineligibleReason"] == {
        "code": "EARLY_ACCESS", "message": f"Gold members have early access until {expected}."}
    assert _utc_day(end) not in offers[0]["explanation"] + rules[0]["howToEarn"]


async def test_refusals_of_rewards_and_vouchers_word_their_dates_in_the_programme_zone(
    gql: GraphQLClient,
) -> None:
    shop = await open_reward_shop(gql)
    await _programme_in(shop, AUCKLAND)
    ann = await shop.member("ann@example.com", points=300)
    opens = _local_end(shop, AUCKLAND, time(1, 30))
    later = await shop.create(title="Later", cost=10, activeFrom=opens.isoformat())
    now_on = await shop.create(title="Now", cost=10, voucherValidDays=1)

    refused = await shop.redeem(ann, later["id"])
    voucher = (await shop.redeem(ann, now_on["id"]))["voucher"]
    await shop.shop.advance(days=2)
    ann = await shop.shop.sign_in("ann@example.com")
    cancelled = await shop.cancel(ann, voucher["id"])

    assert [(e["code"], e["message"]) for e in refused["errors"]] == [
        ("NOT_YET_AVAILABLE", f"This reward is available from {_reads(opens, AUCKLAND)}.")]
    expired_at = datetime.fromisoformat(voucher["expiresAt"]).astimezone(AUCKLAND)
    assert [(e["code"], e["message"]) for e in cancelled["errors"]] == [
        ("EXPIRED", f"This voucher expired on {_reads(expired_at, AUCKLAND)}.")]
