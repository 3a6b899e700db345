"""A pool of signed-in members, registered through the GraphQL API as clients would."""

import asyncio
import secrets
from dataclasses import dataclass

import httpx

from bench.graphql import BenchError, GraphQLRequest, execute

# For a server the bench starts: the cheapest argon2 the settings accept, and no sign-in,
# registration or password-line limit per client address (every bench request comes from
# 127.0.0.1).
FAST_SIGN_UP_ENV = {
    "KIZUNA_PASSWORD_TIME_COST": "1",
    "KIZUNA_PASSWORD_MEMORY_KIB": "8192",
    "KIZUNA_LOGIN_MAX_ATTEMPTS_PER_CLIENT": "100000",
    "KIZUNA_REGISTRATIONS_PER_CLIENT": "1000000",
    "KIZUNA_PASSWORD_QUEUE_PER_CLIENT": "10000",
}
# Below the default per-client sign-in limit (30 in flight count against it), so this also
# works against a server started with default settings.
SIGN_UP_CONCURRENCY = 8

REGISTER = """mutation Register($input: AccountRegisterInput!) {
  accountRegister(input: $input) { member { id email } errors { code message field } }
}"""
SIGN_IN = """mutation SignIn($input: TokenCreateInput!) {
  tokenCreate(input: $input) { accessToken errors { code message field } }
}"""


@dataclass(frozen=True, slots=True)
class SignedInMember:
    id: str
    email: str
    access_token: str


async def _sign_up(client: httpx.AsyncClient, email: str, name: str) -> SignedInMember:
    password = f"Bench-{secrets.token_urlsafe(12)}"
    registered = (
        await execute(
            client,
            GraphQLRequest.of(
                REGISTER,
                {
                    "input": {
                        "email": email,
                        "password": password,
                        "name": name,
                        "marketingConsent": True,
                    }
                },
            ),
        )
    )["accountRegister"]
    if registered["errors"] or registered["member"] is None:
        raise BenchError(f"accountRegister({email}) failed: {registered['errors']}")
    token = await sign_in(client, email, password)
    return SignedInMember(
        id=registered["member"]["id"],
        email=registered["member"]["email"],
        access_token=token,
    )


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> str:
    """A bearer token for the account (`tokenCreate`); BenchError if it is refused."""
    signed_in = (
        await execute(
            client,
            GraphQLRequest.of(SIGN_IN, {"input": {"email": email, "password": password}}),
        )
    )["tokenCreate"]
    if signed_in["errors"] or not signed_in["accessToken"]:
        raise BenchError(f"tokenCreate({email}) failed: {signed_in['errors']}")
    token: str = signed_in["accessToken"]
    return token


async def sign_up_members(
    client: httpx.AsyncClient,
    count: int,
    *,
    concurrency: int = SIGN_UP_CONCURRENCY,
) -> list[SignedInMember]:
    """Register `count` new members (unique emails per run) and sign each in, a few at a
    time. Raises BenchError if any step fails."""
    run = secrets.token_hex(4)
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> SignedInMember:
        async with gate:
            return await _sign_up(
                client, f"bench-{run}-{index}@example.com", f"Bench Member {index}"
            )

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(index)) for index in range(count)]
    return [task.result() for task in tasks]
