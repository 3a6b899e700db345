"""The `kizuna` command line, run as a separate process like an operator would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import Settings
from tests.support import DEFAULT_PASSWORD, GraphQLClient

ROOT = Path(__file__).resolve().parent.parent


def kizuna(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> (
    subprocess.CompletedProcess[str]
):
    return subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
        [sys.executable, "-m", "api.cli", *args], cwd=ROOT, input=stdin, text=True,
        capture_output=True, env={**os.environ, **(env or {})}, timeout=120, check=False,
    )


@pytest.mark.parametrize(
    "command", ["serve", "create-admin", "export-schema", "generate-signing-key",
                "rotate-signing-key", "public-key", "verify", "expire-points", "stats",
                "export", "operations", "demo", "draw-verify"],
)
def test_every_command_has_help(command: str) -> None:
    result = kizuna(command, "--help")
    assert result.returncode == 0
    assert "usage: kizuna" in result.stdout


def test_export_schema_writes_the_committed_sdl(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    assert kizuna("export-schema", "--output", str(target)).returncode == 0
    assert target.read_text() == (ROOT / "schema.graphql").read_text()


def test_bad_settings_stop_the_cli_with_a_clear_message() -> None:
    result = kizuna("export-schema", "--output", "-", env={"KIZUNA_PORT": "nope"})
    assert result.returncode != 0
    assert "KIZUNA_PORT='nope': expected a whole number" in result.stderr


async def test_created_admin_can_sign_in_and_create_a_store(
    settings: Settings, gql: GraphQLClient
) -> None:
    env = {
        "KIZUNA_MONGODB_URI": settings.mongodb_uri or "",
        "KIZUNA_DATABASE": settings.database,
        "KIZUNA_DATA_DIR": str(settings.data_dir),
        "KIZUNA_PASSWORD_TIME_COST": "1",
        "KIZUNA_PASSWORD_MEMORY_KIB": "8192",
    }
    result = kizuna(
        "create-admin", "--email", "Boss@Example.com", "--name", "Boss", "--password-stdin",
        env=env, stdin=DEFAULT_PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "created administrator boss@example.com" in result.stdout

    tokens = await gql.sign_in("boss@example.com")
    data = await gql.data(
        'mutation { storeCreate(input: {code: "lyon-02", name: "Lyon", timezone: "Europe/Paris"})'
        " { store { code } errors { code } } }",
        token=tokens["accessToken"],
    )
    assert data["storeCreate"] == {"store": {"code": "LYON-02"}, "errors": []}


def test_create_admin_rejects_a_weak_password(settings: Settings) -> None:
    env = {"KIZUNA_MONGODB_URI": settings.mongodb_uri or "", "KIZUNA_DATABASE": settings.database,
           "KIZUNA_DATA_DIR": str(settings.data_dir)}
    result = kizuna("create-admin", "--email", "a@example.com", "--name", "A",
                    "--password-stdin", env=env, stdin="short\n")
    assert result.returncode != 0
    assert "WEAK_PASSWORD" in result.stderr
