"""Erasure and webhooks: what receivers answered about the member's events is scrubbed, and
they hear of the erasure by a `member.erased` event that names nobody."""

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from api.settings import Settings
from tests.browser_support import live_server
from tests.privacy_support import MEMBER_ERASE, needles, personal_data_found, rich_member
from tests.support import GraphQLClient

pytestmark = pytest.mark.asyncio

CREATE = """mutation($input: WebhookEndpointCreateInput!) { webhookEndpointCreate(input: $input) {
  endpoint { id } secret errors { code message } } }"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, webhook_private_targets=True, webhook_poll_ms=50,
                               webhook_timeout_seconds=2)


@pytest.fixture
async def echo() -> AsyncIterator[tuple[str, list[dict[str, object]]]]:
    """A receiver that answers with what it was sent (as careless receivers do)."""
    received: list[dict[str, object]] = []

    async def hook(request: Request) -> Response:
        body = await request.body()
        received.append(json.loads(body))
        return PlainTextResponse(body.decode())

    async with live_server(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as server:
        yield f"{server.url}/hook", received


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not within 20 seconds")


def _received(received: list[dict[str, object]], event_type: str) -> Callable[
        [], Awaitable[bool]]:
    async def check() -> bool:
        return any(event["type"] == event_type for event in received)
    return check


async def test_receivers_answers_are_scrubbed_and_told_of_the_erasure_without_personal_data(
    gql: GraphQLClient, echo: tuple[str, list[dict[str, object]]],
) -> None:
    url, received = echo
    subject = await rich_member(gql)
    created = await gql.data(CREATE, {"input": {"url": url}},
                             token=subject.shop.admin.access_token)
    assert created["webhookEndpointCreate"]["errors"] == []
    assert (await subject.shop.adjust(subject.email, 10, f"Thanks, {subject.name}"))[
        "errors"] == []
    await _until(_received(received, "points.adjusted"))
    deliveries = subject.store.collection("webhook_deliveries")

    async def succeeded() -> bool:
        return await deliveries.count_documents({"status": "SUCCEEDED"}) > 0

    await _until(succeeded)
    answers = [a["response"] async for d in deliveries.find({}) for a in d["attempts"]]
    assert any(subject.name in answer for answer in answers)  # echoed back

    erased = await gql.data(MEMBER_ERASE, {"input": {
        "memberId": subject.global_id, "reason": "Request 12"}},
        token=subject.shop.admin.access_token)
    assert erased["memberErase"]["errors"] == []
    await _until(_received(received, "member.erased"))

    told = next(event for event in received if event["type"] == "member.erased")
    assert told["member_id"] == subject.member_id
    assert set(told["data"]) == {"member", "erased_at"}  # type: ignore[arg-type]

    async def all_sent() -> bool:  # the delivery of member.erased is recorded too
        return await deliveries.count_documents({"status": "PENDING"}) == 0

    await _until(all_sent)
    assert await personal_data_found(subject.store, needles(subject)) == []
    answers = [a["response"] async for d in deliveries.find({}) for a in d["attempts"]]
    assert any("[erased]" in answer for answer in answers)
