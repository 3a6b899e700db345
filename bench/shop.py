"""A shop set up through the API as an operator would: an administrator (created with the
`kizuna create-admin` CLI), a shop system's API key, and three active earning rules.

The rules (all active while the bench runs; every order below matches all three):
- "Base: 1 point per €1": PER_CURRENCY_UNIT, 1 point per 100 minor units, EUR orders;
- "Shoe bonus": FIXED 50 points when the order has a line in category "shoes", at most
  1,000,000 points per member per day (a limit, so every earn reads and writes its day
  counter; far too high to bind, so the work per earn never changes during a run);
- "Double points week": MULTIPLIER 2.0 from an hour ago for a week, at most 1,000,000
  points per member per month (its month counter).
"""

import asyncio
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.graphql import BenchError, GraphQLRequest, execute
from bench.servers import REPO_ROOT, Target, without_kizuna_settings

CLI_TIMEOUT_SECONDS = 60.0
CURRENCY = "EUR"
SHOE_BONUS = 50
MULTIPLIER = 2
# Every order: one pair of shoes and two pairs of socks.
SOCKS_PRICE, SOCKS_QUANTITY = 650, 2
DEFAULT_ORDER_TOTAL = 10_290  # €102.90: 102 + 50, doubled = 304 points

SIGN_IN = """mutation SignIn($input: TokenCreateInput!) {
  tokenCreate(input: $input) { accessToken errors { code message field } }
}"""
API_KEY_CREATE = """mutation Key($input: ApiKeyCreateInput!) {
  apiKeyCreate(input: $input) { secret errors { code message field } }
}"""
RULE_CREATE = """mutation Rule($input: EarningRuleInput!) {
  earningRuleCreate(input: $input) { rule { id name } errors { code message field } }
}"""
ORDER_RECORD = """mutation Order($input: OrderRecordInput!) {
  orderRecord(input: $input) {
    orderId pointsEarned replayed breakdown { ruleName points capped }
    errors { code message field }
  }
}"""
POINTS_ADJUST = """mutation Adjust($input: PointsAdjustInput!) {
  pointsAdjust(input: $input) { entry { kind points } errors { code message field } }
}"""


def rule_inputs(now: datetime) -> list[dict[str, Any]]:
    """The three earning rules, as `earningRuleCreate` inputs (see the module docstring)."""
    return [
        {
            "name": "Base: 1 point per €1",
            "trigger": "ORDER",
            "conditions": {"currency": CURRENCY},
            "formula": {"kind": "PER_CURRENCY_UNIT", "points": 1, "perAmountMinor": 100},
        },
        {
            "name": "Shoe bonus",
            "trigger": "ORDER",
            "conditions": {"categoriesInclude": ["shoes"]},
            "formula": {"kind": "FIXED", "points": SHOE_BONUS},
            "limits": {"perMemberPerDay": 1_000_000},
        },
        {
            "name": "Double points week",
            "trigger": "ORDER",
            "conditions": {
                "startsAt": (now - timedelta(hours=1)).isoformat(),
                "endsAt": (now + timedelta(days=7)).isoformat(),
            },
            "formula": {"kind": "MULTIPLIER", "factor": float(MULTIPLIER)},
            "limits": {"perMemberPerMonth": 1_000_000},
        },
    ]


# Usage counters one earn reads and writes: one per limit of a rule that gives points.
USAGE_COUNTERS_PER_EARN = 2


def points_for(total: int) -> int:
    """What an order of `total` minor units (with a shoes line) earns under the rules."""
    return (total // 100 + SHOE_BONUS) * MULTIPLIER


def order_input(
    member_id: str, order_id: str, *, total: int = DEFAULT_ORDER_TOTAL
) -> dict[str, Any]:
    """An `orderRecord` input: a paid online order in EUR, now, of `total` minor units."""
    shoes = total - SOCKS_PRICE * SOCKS_QUANTITY
    if shoes <= 0:
        raise ValueError("the order total must exceed the socks")
    return {
        "member": {"id": member_id},
        "orderId": order_id,
        "channel": "ONLINE",
        "total": total,
        "currency": CURRENCY,
        "items": [
            {"sku": "SHOE-42", "category": "shoes", "quantity": 1, "unitPrice": shoes},
            {
                "sku": "SOCKS-3",
                "category": "accessories",
                "quantity": SOCKS_QUANTITY,
                "unitPrice": SOCKS_PRICE,
            },
        ],
        "occurredAt": datetime.now(UTC).isoformat(),
    }


def check_recorded(payload: dict[str, Any], total: int = DEFAULT_ORDER_TOTAL) -> None:
    """Raise BenchError unless an `orderRecord` payload is a new order earning on all three
    rules (so the load measures the full path, not a replay or a refusal)."""
    expected = points_for(total)
    if payload["errors"] or payload["replayed"] or payload["pointsEarned"] != expected:
        raise BenchError(f"orderRecord should earn {expected} new points: {payload}")
    if len(payload["breakdown"]) != 3:
        raise BenchError(f"orderRecord should earn on three rules: {payload['breakdown']}")


@dataclass(frozen=True, slots=True)
class Shop:
    admin_email: str
    admin_token: str
    api_key: str
    """Bearer token of the shop system (scope ORDERS_WRITE)."""
    rule_ids: tuple[str, ...]


async def create_admin_with_cli(target: Target, email: str, name: str, password: str) -> None:
    """`kizuna create-admin --email … --name … --password-stdin` with the server's KIZUNA_*
    settings. On the embedded database the CLI attaches to the running server's database
    through its data directory (store.embedded `start_or_attach`)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "api.cli",
        "create-admin",
        "--email",
        email,
        "--name",
        name,
        "--password-stdin",
        cwd=REPO_ROOT,
        env={**without_kizuna_settings(), **target.settings},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(
            process.communicate(f"{password}\n".encode()), CLI_TIMEOUT_SECONDS
        )
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BenchError("kizuna create-admin did not finish in time") from None
    if process.returncode != 0:
        raise BenchError(
            f"kizuna create-admin failed ({process.returncode}): "
            f"{output.decode(errors='replace')[-1000:]}"
        )


async def open_shop(target: Target, client: httpx.AsyncClient) -> Shop:
    """A new administrator (signed in), an ORDERS_WRITE API key and the three rules."""
    run = secrets.token_hex(4)
    email = f"bench-admin-{run}@example.com"
    password = f"Bench-{secrets.token_urlsafe(16)}"
    await create_admin_with_cli(target, email, "Bench Admin", password)
    signed_in = (
        await execute(
            client, GraphQLRequest.of(SIGN_IN, {"input": {"email": email, "password": password}})
        )
    )["tokenCreate"]
    admin_token = signed_in["accessToken"]
    if not admin_token:
        raise BenchError(f"the administrator could not sign in: {signed_in['errors']}")
    key = (
        await execute(
            client,
            GraphQLRequest.of(
                API_KEY_CREATE,
                {"input": {"name": f"bench shop {run}", "scopes": ["ORDERS_WRITE"]}},
                token=admin_token,
            ),
        )
    )["apiKeyCreate"]
    rule_ids = []
    for rule in rule_inputs(datetime.now(UTC)):
        created = (
            await execute(
                client, GraphQLRequest.of(RULE_CREATE, {"input": rule}, token=admin_token)
            )
        )["earningRuleCreate"]
        rule_ids.append(created["rule"]["id"])
    return Shop(
        admin_email=email, admin_token=admin_token, api_key=key["secret"], rule_ids=tuple(rule_ids)
    )


def order_request(
    shop: Shop, member_id: str, order_id: str, *, total: int = DEFAULT_ORDER_TOTAL
) -> GraphQLRequest:
    return GraphQLRequest.of(
        ORDER_RECORD, {"input": order_input(member_id, order_id, total=total)}, token=shop.api_key
    )


def adjust_request(shop: Shop, member_id: str, points: int, reason: str) -> GraphQLRequest:
    return GraphQLRequest.of(
        POINTS_ADJUST,
        {"input": {"member": {"id": member_id}, "points": points, "reason": reason}},
        token=shop.admin_token,
    )
