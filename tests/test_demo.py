"""`kizuna demo` and the start-up banner of `kizuna serve`, run as an operator would: the
real CLI in a subprocess on a fresh embedded database, then the app on that database."""

import dataclasses
import io
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.app import create_app
from api.demo import command
from api.demo.people import people
from api.settings import Environment, PersistedOperationSettings, Settings, TrustedDocuments
from tests.support import TEST_CLIENT_ADDRESS, GraphQLClient

ROOT = Path(__file__).resolve().parent.parent
MEMBERS = 20
CHEAP_PASSWORDS = {"KIZUNA_PASSWORD_TIME_COST": "1", "KIZUNA_PASSWORD_MEMORY_KIB": "8192"}


def kizuna(*args: str, env: dict[str, str], timeout: float = 300) -> (
    subprocess.CompletedProcess[str]
):
    # A fresh embedded database per data directory, never the suite's shared server.
    base = {k: v for k, v in os.environ.items() if not k.startswith("KIZUNA_")}
    return subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
        [sys.executable, "-m", "api.cli", *args], cwd=ROOT, text=True, capture_output=True,
        env={**base, **CHEAP_PASSWORDS, **env}, timeout=timeout, check=False,
    )


@dataclass(frozen=True)
class Demo:
    data_dir: Path
    output: str
    admin: tuple[str, str]
    staff: tuple[str, str]
    member: tuple[str, str]
    voucher_code: str
    first_day: date
    last_day: date


def _signed_in(output: str, role: str) -> tuple[str, str]:
    found = re.search(rf"^  {role} +(\S+@\S+) .*password (\S+)$", output, re.MULTILINE)
    assert found, output
    return found.group(1), found.group(2)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    data_dir = tmp_path_factory.mktemp("demo-data")
    began = time.perf_counter()
    result = kizuna("demo", "--members", str(MEMBERS), "--seed", "7",
                    env={"KIZUNA_DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result.stderr
    print(f"kizuna demo --members {MEMBERS}: {time.perf_counter() - began:.1f} s")
    output = result.stdout
    code = re.search(r'voucherCheck\(input: \{code: "([A-Z0-9-]+)"\}\)', output)
    period = re.search(r'programmeStats\(from: "([\d-]+)", to: "([\d-]+)"\)', output)
    assert code and period, output
    return Demo(data_dir=data_dir, output=output, admin=_signed_in(output, "admin"),
                staff=_signed_in(output, "staff"), member=_signed_in(output, "member"),
                voucher_code=code.group(1), first_day=date.fromisoformat(period.group(1)),
                last_day=date.fromisoformat(period.group(2)))


def test_demo_prints_sign_ins_and_three_things_to_try(demo: Demo) -> None:
    assert f"{MEMBERS} members" in demo.output
    assert demo.admin[0] == "admin@example.com"
    # Generated, long and random: nothing a strength estimator would call weak.
    assert len(demo.admin[1]) >= 20 and demo.admin[1] != demo.member[1]
    assert demo.staff[1] == demo.member[1]
    assert "GraphiQL at http://127.0.0.1:8000/graphql" in demo.output
    assert "http://127.0.0.1:8000/scanner" in demo.output
    for step in ("1. As ", "2. As ", "3. As the administrator"):
        assert step in demo.output
    assert demo.last_day - demo.first_day == timedelta(days=365)
    assert demo.last_day == datetime.now(UTC).date() or (
        demo.last_day == datetime.now(UTC).date() - timedelta(days=1))


def test_the_ledger_is_consistent_after_the_demo(demo: Demo) -> None:
    result = kizuna("verify", env={"KIZUNA_DATA_DIR": str(demo.data_dir)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: no violation" in result.stdout


def _member_count(data_dir: Path) -> int:
    result = kizuna("export", "members", "--format", "jsonl",
                    env={"KIZUNA_DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result.stderr
    return len(result.stdout.splitlines())


def test_the_demo_refuses_a_programme_that_is_not_empty_and_writes_nothing(demo: Demo) -> None:
    env = {"KIZUNA_DATA_DIR": str(demo.data_dir)}
    assert _member_count(demo.data_dir) == MEMBERS
    result = kizuna("demo", "--members", "3", env=env)
    assert result.returncode == 1
    assert "the programme is not empty" in result.stderr
    assert f"{MEMBERS} members" in result.stderr and "nothing was written" in result.stderr
    assert result.stdout == ""
    assert _member_count(demo.data_dir) == MEMBERS


def test_the_demo_refuses_production_unless_forced(tmp_path: Path, database_uri: str) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    env = {"KIZUNA_ENV": "production", "KIZUNA_JWT_SIGNING_KEY": pem,
           "KIZUNA_MONGODB_URI": database_uri, "KIZUNA_DATABASE": "demo_refused",
           "KIZUNA_DATA_DIR": str(tmp_path)}
    result = kizuna("demo", "--members", "3", env=env)
    assert result.returncode == 1
    assert "refusing to load demo data with KIZUNA_ENV=production" in result.stderr
    assert "--force" in result.stderr


def test_an_administrator_first_is_fine_but_not_one_with_the_demos_email(
    tmp_path: Path,
) -> None:
    env = {"KIZUNA_DATA_DIR": str(tmp_path)}
    created = subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
        [sys.executable, "-m", "api.cli", "create-admin", "--email", "admin@example.com",
         "--name", "First", "--password-stdin"], cwd=ROOT, text=True, capture_output=True,
        input="correct horse battery staple\n", timeout=120, check=False,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("KIZUNA_")},
             **CHEAP_PASSWORDS, **env})
    assert created.returncode == 0, created.stderr
    result = kizuna("demo", "--members", "3", env=env)
    assert result.returncode == 1
    assert "an account admin@example.com already exists" in result.stderr
    assert "nothing was written" in result.stderr
    assert _member_count(tmp_path) == 0


def test_a_bad_member_count_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = kizuna("demo", "--members", "0", env={"KIZUNA_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "--members must be 1 to 5000" in result.stderr
    assert not (tmp_path / "db").exists()


def test_the_same_seed_draws_the_same_members() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=365)
    first = people(50, rng=random.Random(3), start=start, end=end)  # noqa: S311
    again = people(50, rng=random.Random(3), start=start, end=end)  # noqa: S311
    other = people(50, rng=random.Random(4), start=start, end=end)  # noqa: S311
    assert first == again and first != other
    assert [p.joins_at for p in first] == sorted(p.joins_at for p in first)
    assert len({p.email for p in first}) == 50
    assert all(p.referred_by is None or p.referred_by < p.number for p in first)


@pytest.fixture
async def demo_gql(demo: Demo) -> AsyncIterator[GraphQLClient]:
    """The app (in this process) on the demo's embedded database."""
    settings = Settings(env=Environment.TEST, data_dir=demo.data_dir, password_time_cost=1,
                        password_memory_kib=8 * 1024, expiry_interval_seconds=0,
                        session_sync_seconds=0)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(TEST_CLIENT_ADDRESS, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://kizuna.test") as http:
            yield GraphQLClient(http, app.state.kizuna)


ME = """{ me { points { balance lifetimeEarned } tier { current { name } }
  history(first: 100) { edges { node { kind points occurredAt } } }
  vouchers(first: 20) { edges { node { code status title } } } } }"""


async def _token(gql: GraphQLClient, credentials: tuple[str, str]) -> str:
    signed = await gql.sign_in(*credentials)
    assert signed["errors"] == [], signed
    token: str = signed["accessToken"]
    return token


async def test_the_printed_member_has_points_history_and_a_voucher_to_show(
    demo: Demo, demo_gql: GraphQLClient,
) -> None:
    me = (await demo_gql.data(ME, token=await _token(demo_gql, demo.member)))["me"]
    assert me["points"]["balance"] > 0
    history = [edge["node"] for edge in me["history"]["edges"]]
    kinds = {entry["kind"] for entry in history}
    assert {"EARN", "REDEEM"} <= kinds
    # A year of history: the member joined in the demo's first days.
    first = min(datetime.fromisoformat(entry["occurredAt"]) for entry in history)
    assert first.date() < demo.first_day + timedelta(days=60)
    vouchers = {edge["node"]["code"]: edge["node"] for edge in me["vouchers"]["edges"]}
    assert vouchers[demo.voucher_code]["status"] == "ACTIVE"
    assert any(v["status"] == "REDEEMED" for v in vouchers.values())


async def test_the_printed_staff_member_checks_the_members_voucher_at_the_till(
    demo: Demo, demo_gql: GraphQLClient,
) -> None:
    data = await demo_gql.data(
        """mutation($input: VoucherCheckInput!) { voucherCheck(input: $input) {
             redeemable reason { code } errors { code } } }""",
        {"input": {"code": demo.voucher_code}}, token=await _token(demo_gql, demo.staff))
    assert data["voucherCheck"] == {"redeemable": True, "reason": None, "errors": []}


async def test_the_printed_admin_sees_the_year_in_the_programmes_figures(
    demo: Demo, demo_gql: GraphQLClient,
) -> None:
    token = await _token(demo_gql, demo.admin)
    query = """query($from: Date!, $to: Date!) { programmeStats(from: $from, to: $to) {
      stats { points { earned redeemed expired reversed } members { total new }
              rewards { redemptions } campaigns { name active spent } nps { responses } }
      errors { code } } }"""
    year = (await demo_gql.data(query, {"from": demo.first_day.isoformat(),
                                        "to": demo.last_day.isoformat()}, token=token))
    stats = year["programmeStats"]["stats"]
    assert stats["members"] == {"total": MEMBERS, "new": MEMBERS}
    points = stats["points"]
    assert points["earned"] > points["redeemed"] > 0 and points["expired"] > 0
    assert sum(reward["redemptions"] for reward in stats["rewards"]) > 0
    assert any(c["active"] and c["spent"] > 0 for c in stats["campaigns"])
    assert stats["nps"]["responses"] > 0
    first_months = (await demo_gql.data(query, {
        "from": demo.first_day.isoformat(),
        "to": (demo.first_day + timedelta(days=90)).isoformat()}, token=token))
    assert first_months["programmeStats"]["stats"]["points"]["earned"] > 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


Serve = Callable[[Path], tuple[int, list[str]]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    started: list[subprocess.Popen[str]] = []

    def run(data_dir: Path) -> tuple[int, list[str]]:
        """Start `kizuna serve` and return its port and output up to the banner's end."""
        port = _free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith("KIZUNA_")}
        process = subprocess.Popen(  # noqa: S603 - our own CLI with fixed arguments
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)], cwd=ROOT,
            text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**base, **CHEAP_PASSWORDS, "KIZUNA_DATA_DIR": str(data_dir)},
        )
        started.append(process)
        stderr = process.stderr
        assert stderr is not None
        lines: list[str] = []
        # A thread reads the output: a pipe's buffered lines are invisible to select().
        reader = threading.Thread(target=lambda: lines.extend(
            line.rstrip("\n") for line in stderr), daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Health" in line for line in lines):
            time.sleep(0.1)
        time.sleep(0.5)  # the hint, when there is one, comes right after the health check
        return port, lines

    yield run
    for process in started:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_banner_gives_the_urls_and_suggests_the_demo_on_an_empty_programme(
    tmp_path: Path, serve: Serve,
) -> None:
    port, lines = serve(tmp_path)
    text = "\n".join(lines)
    assert f"GraphiQL  http://127.0.0.1:{port}/graphql" in text, text
    assert f"Scanner   http://127.0.0.1:{port}/scanner" in text
    assert f"Health    http://127.0.0.1:{port}/healthz" in text
    assert "`kizuna demo`" in text
    listening = next(i for i, line in enumerate(lines) if "Uvicorn running on" in line)
    assert listening < next(i for i, line in enumerate(lines) if "Kizuna is ready" in line)
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["status"] == "ok"


def test_the_banner_does_not_suggest_the_demo_once_there_are_members(
    demo: Demo, serve: Serve,
) -> None:
    port, lines = serve(demo.data_dir)
    text = "\n".join(lines)
    assert f"GraphiQL  http://127.0.0.1:{port}/graphql" in text, text
    assert "kizuna demo" not in text



async def test_the_demos_app_runs_without_allow_list_apq_or_telemetry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The demo's own calls are in no manifest: with an allow-list switched on for the real
    server, the demo's in-process app must still run them. (A whole `kizuna demo` under
    `KIZUNA_TRUSTED_DOCUMENTS=allow-list` takes ~25 s; this checks the app it builds.)"""
    operators = Settings(
        env=Environment.TEST, data_dir=tmp_path, request_telemetry=True,
        persisted=PersistedOperationSettings(
            trusted_documents=TrustedDocuments.ALLOW_LIST, exempt=frozenset(), apq=True))
    built: list[Settings] = []

    class Built(Exception):
        pass

    def capture(settings: Settings, **_: object) -> None:
        built.append(settings)
        raise Built

    monkeypatch.setattr(command, "create_app", capture)
    with pytest.raises(Built):
        await command.load_demo(operators, members=3, seed=1, out=io.StringIO(),
                                notices=io.StringIO())
    [settings] = built
    assert settings.persisted.trusted_documents is TrustedDocuments.OFF
    assert (settings.persisted.apq, settings.request_telemetry) == (False, False)
    assert settings.expiry_interval_seconds == 0
    assert dataclasses.replace(
        settings, persisted=operators.persisted, request_telemetry=True,
        expiry_interval_seconds=operators.expiry_interval_seconds) == operators
