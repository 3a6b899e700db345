"""A member's challenges in their data export, and what their erasure keeps."""

import json
from typing import Any

from tests.challenge_support import challenge, create, documents, join
from tests.privacy_support import EXPORT, MEMBER_ERASE, plain_member
from tests.support import GraphQLClient


async def test_the_export_holds_joins_progress_and_completions_and_erasure_keeps_completions(
    gql: GraphQLClient,
) -> None:
    subject = await plain_member(gql)  # one order, before any challenge
    shop = subject.shop
    club = await create(shop, challenge(shop, title="Club", target=1, optIn=True))
    await create(shop, challenge(shop, title="Two orders", target=2))
    assert (await join(shop, subject.member, club))["errors"] == []
    await shop.record(shop.order(subject.email, 2000, order_id="C-1"))

    data = await gql.data(EXPORT, token=subject.member.access_token)
    export = data["myDataExport"]
    if isinstance(export, str):
        export = json.loads(export)
    records: list[dict[str, Any]] = export["sections"]["challenges"]
    kinds = [r["kind"] for r in records]
    assert kinds == ["joined", "progress", "completion"]
    (completion,) = [r for r in records if r["kind"] == "completion"]
    assert completion["status"] == "COMPLETED" and "member_id" not in completion
    (progress,) = [r for r in records if r["kind"] == "progress"]
    assert sorted(c["all"]["n"] for c in progress["challenges"].values()) == [1, 1]

    erased = await gql.data(MEMBER_ERASE, {"input": {"memberId": subject.global_id,
                                                     "reason": "Request by letter"}},
                            token=shop.admin.access_token)
    assert erased["memberErase"]["errors"] == []

    assert await documents(shop, "challenge_progress") == []
    member = await shop.gql.state.services.store.collection("members").find_one(
        {"_id": subject.member_id})
    assert member is not None and "challenges_joined" not in member
    (kept,) = await documents(shop, "challenge_completions")
    assert kept["member_id"] == subject.member_id  # pseudonymous, like the ledger
    assert await shop.violations() == []
