"""A long history's export: a signed, expiring download link that needs no bearer token,
opens only its own member's export, and dies with the member's erasure."""

import dataclasses
import json
from typing import Any

import pytest

from api.settings import Settings, SettingsError
from tests.ledger_support import PER_EURO, open_shop
from tests.privacy_support import EXPORT, MEMBER_ERASE, plain_member
from tests.support import GraphQLClient, ManualClock, SignedIn
from tests.test_data_export import SECTIONS

pytestmark = pytest.mark.asyncio

INLINE_RECORDS = 7
"""A new member has 7 records (account, three consent choices, sign-in, points,
member.registered); an order more passes the threshold."""
LINK_SECONDS = 300


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, data_export_inline_records=INLINE_RECORDS,
                               data_export_link_seconds=LINK_SECONDS)


async def _export(gql: GraphQLClient, member: SignedIn) -> dict[str, Any]:
    data = await gql.data(EXPORT, token=member.access_token)
    export: dict[str, Any] = data["myDataExport"]
    return export


async def test_past_the_threshold_the_export_is_a_link_that_needs_no_bearer_token(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    email = "linda.linkova@privacy-test.example"
    member = await shop.member(email)
    inline = await _export(gql, member)
    assert set(inline["sections"]) == SECTIONS
    assert (await shop.record(shop.order(email, 2_500, order_id="LK-1")))["errors"] == []

    export = await _export(gql, member)

    assert "sections" not in export
    download = export["download"]
    assert download["url"].startswith("/data-export/") and download["expires_at"]
    response = await gql.http.get(download["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    full = response.json()
    assert full["format"] == "kizuna.member-data" and full["member_id"] == inline["member_id"]
    assert set(full["sections"]) == SECTIONS
    assert full["sections"]["account"] == inline["sections"]["account"]
    assert [o["id"] for o in full["sections"]["orders"]] == ["LK-1"]
    assert len(full["sections"]["ledger_entries"]) == 1


async def test_a_download_link_expires(gql: GraphQLClient, clock: ManualClock) -> None:
    subject = await plain_member(gql)
    url = (await _export(gql, subject.member))["download"]["url"]
    assert (await gql.http.get(url)).status_code == 200

    clock.advance(seconds=LINK_SECONDS + 1)
    response = await gql.http.get(url)

    assert response.status_code == 410
    assert subject.email not in response.text


async def test_a_link_opens_only_its_own_members_export(gql: GraphQLClient) -> None:
    subject = await plain_member(gql)
    other = await plain_member(gql, email="otto.otherson@privacy-test.example",
                               name="Otto Otherson", shop=subject.shop)
    mine = (await _export(gql, subject.member))["download"]["url"]
    theirs = (await _export(gql, other.member))["download"]["url"]

    their_export = (await gql.http.get(theirs)).json()
    assert their_export["sections"]["account"][0]["email"] == other.email
    assert subject.email not in json.dumps(their_export)
    # The member inside a link cannot be changed: the signature covers it.
    head, claims, signature = mine.removeprefix("/data-export/").split(".")
    _, their_claims, _ = theirs.removeprefix("/data-export/").split(".")
    for forged in (f"{head}.{their_claims}.{signature}", f"{head}.{claims}.{signature[:-4]}AAAA",
                   subject.member.access_token, "not-a-token"):
        response = await gql.http.get(f"/data-export/{forged}")
        assert response.status_code == 404, forged
        assert subject.email not in response.text


async def test_a_link_stops_working_once_the_member_is_erased(gql: GraphQLClient) -> None:
    subject = await plain_member(gql)
    url = (await _export(gql, subject.member))["download"]["url"]
    erased = await gql.data(MEMBER_ERASE, {"input": {
        "memberId": subject.global_id, "reason": "Request 5"}},
        token=subject.shop.admin.access_token)
    assert erased["memberErase"]["errors"] == []

    response = await gql.http.get(url)

    assert response.status_code == 410


async def test_the_threshold_and_the_links_lifetime_are_settings() -> None:
    settings = Settings.from_env({"KIZUNA_DATA_EXPORT_INLINE_RECORDS": "7",
                                  "KIZUNA_DATA_EXPORT_LINK_SECONDS": "120"})
    assert (settings.data_export_inline_records, settings.data_export_link_seconds) == (7, 120)
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"KIZUNA_DATA_EXPORT_LINK_SECONDS": "5"})
    assert "KIZUNA_DATA_EXPORT_LINK_SECONDS" in str(refused.value)
