"""`kizuna demo`: start the app in-process on a clock set a year back, write the programme
and its year through GraphQL and the domain's use cases, then print the sign-ins."""

import dataclasses
import random
import secrets
import string
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TextIO

import httpx

from api.app import create_app
from api.banner import base_url
from api.demo.catalogue import ADMIN_EMAIL, ADMIN_NAME
from api.demo.client import DemoClient
from api.demo.clock import DemoClock
from api.demo.emptiness import what_is_there
from api.demo.passwords import SharedPasswords
from api.demo.people import people
from api.demo.setup import Programme, set_up
from api.demo.summary import FeaturedMember, Summary, render
from api.demo.year import Cast, MemberState, Year
from api.settings import Settings, TrustedDocuments
from api.state import AppState
from auth.accounts import Account, create_admin, find_credentials
from auth.errors import EmailTaken
from auth.passwords import PasswordCost
from schema.context import Services

DAYS = 365
_CLIENT = ("127.0.0.1", 40000)


class DemoRefused(Exception):
    """The demo would mix into an existing programme (or could not start): nothing written."""


def demo_password() -> str:
    """A generated password, long and random enough for any strength estimator, easy to
    type: four groups of five lower-case letters and digits (about 103 bits)."""
    alphabet = string.ascii_lowercase + string.digits
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


async def load_demo(settings: Settings, *, members: int, seed: int, out: TextIO,
                    notices: TextIO) -> None:
    """Load the demo programme into the settings' database and print the sign-ins to
    `out`; raises DemoRefused, before writing anything, when the programme is not empty."""
    began = time.perf_counter()
    clock = DemoClock()
    app = create_app(demo_settings(settings), clock=clock)
    async with app.router.lifespan_context(app):
        embedded = app.state.embedded_database
        if embedded is not None and embedded.attached:
            print("kizuna: using the embedded database already running for "
                  f"{embedded.data_dir}", file=notices)
        state: AppState = app.state.kizuna
        found = await what_is_there(state.services.store)
        if found:
            raise DemoRefused(
                "the programme is not empty (" + ", ".join(found) + "); the demo loads "
                "into an empty database only: point KIZUNA_DATA_DIR (or KIZUNA_DATABASE) at "
                "a fresh one")
        end = clock().replace(second=0, microsecond=0) - timedelta(minutes=1)
        start = (end - timedelta(days=DAYS)).replace(hour=0, minute=0)
        clock.set(start + timedelta(hours=9))
        admin_password, shared_password = demo_password(), demo_password()
        admin = await _admin(state.services, clock, admin_password)
        print(f"kizuna: loading a demo programme ({members} members, a year of history)...",
              file=notices)
        transport = httpx.ASGITransport(app=app, client=_CLIENT)
        async with httpx.AsyncClient(transport=transport, base_url="http://kizuna.demo") as http:
            client = DemoClient(http)
            programme = await set_up(
                client, token=state.services.authenticator.access_tokens.issue(
                    admin.principal()).token,
                staff_password=shared_password, now=clock(), live_until=end + timedelta(days=14))
            year = await _replay(settings, state.services, client, clock, programme,
                                 shared_password, members=members, seed=seed, start=start,
                                 end=end)
            featured = year.members[0]
            points = await year.balance(featured)
    out.write(render(Summary(
        base_url=base_url(settings.host, settings.port), production=settings.production,
        admin_email=ADMIN_EMAIL, admin_password=admin_password, demo_password=shared_password,
        staff=programme.staff[0], member=_featured(featured, points),
        reward=min(programme.rewards, key=lambda r: r.cost), counts=year.counts,
        first_day=start.date().isoformat(), last_day=end.date().isoformat(),
        seconds=time.perf_counter() - began)))


def demo_settings(settings: Settings) -> Settings:
    """The settings of the demo's own in-process app, which only the demo calls: the
    operator's, except what would stop or distort the demo's own requests. Trusted
    documents off: the demo's member and staff operations are in no manifest, and an
    allow-list would refuse them half-way through the year. APQ registration off: the demo
    sends text, nothing to store. Request telemetry off: the demo's thousands of requests
    are no traffic the operator's logs and metrics should count. And the nightly jobs run
    on the demo's clock (year.py), not on the app's interval."""
    return dataclasses.replace(
        settings, expiry_interval_seconds=0, request_telemetry=False,
        persisted=dataclasses.replace(
            settings.persisted, trusted_documents=TrustedDocuments.OFF, apq=False))


async def _admin(services: Services, clock: DemoClock, password: str) -> Account:
    try:
        return await create_admin(services.store, services.authenticator.passwords,
                                  email=ADMIN_EMAIL, password=password, name=ADMIN_NAME,
                                  clock=clock)
    except EmailTaken:
        raise DemoRefused(f"an account {ADMIN_EMAIL} already exists (the demo's "
                          "administrator)") from None


async def _replay(settings: Settings, services: Services, client: DemoClient,
                  clock: DemoClock, programme: Programme, password: str, *, members: int,
                  seed: int, start: datetime, end: datetime) -> Year:
    """The members' year, from `start` to `end`; the clock stands at `end` afterwards."""
    passwords = SharedPasswords(PasswordCost(
        time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib))
    try:
        cast = Cast(store=services.store, client=client, clock=clock,
                    tokens=services.authenticator.access_tokens, passwords=passwords,
                    member_password=password,
                    staff=await _staff_accounts(services, [s.email for s in programme.staff]))
        # Not for secrets: the same seed replays the same year.
        rng = random.Random(seed)  # noqa: S311
        year = Year(cast, programme, rng=rng, end=end)
        await year.run(people(members, rng=rng, start=start, end=end), start=start)
        clock.set(end)
        await year.finish(year.members[0])
        return year
    finally:
        passwords.close()


async def _staff_accounts(services: Services, emails: Sequence[str]) -> dict[str, Account]:
    accounts = {}
    for email in emails:
        found = await find_credentials(services.store, email)
        assert found is not None  # noqa: S101 - created just before
        accounts[email] = found[0]
    return accounts


def _featured(member: MemberState, points: int) -> FeaturedMember:
    return FeaturedMember(email=member.person.email, name=member.person.name, points=points,
                          voucher_code=member.open_vouchers[-1] if member.open_vouchers
                          else None)
