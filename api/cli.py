"""The `kizuna` command: serve, create-admin, export-schema, key management, verify, the
programme's roll-ups and exports."""

import argparse
import asyncio
import datetime
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from api.settings import Settings, SettingsError

if TYPE_CHECKING:
    from api.operation_store import TrustedOperation
    from loyalty.insights.exports import Period
    from store.embedded import EmbeddedServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="kizuna", description="Kizuna loyalty engine. Settings come from KIZUNA_* variables."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="Run the GraphQL server (embedded DB by default).")
    serve.add_argument("--host", help="Interface to listen on (default KIZUNA_HOST or 127.0.0.1).")
    serve.add_argument("--port", type=int, help="Port (default KIZUNA_PORT or 8000).")
    serve.add_argument("--workers", type=int, default=1, help="Worker processes (default 1).")

    admin = commands.add_parser("create-admin", help="Create an administrator account.")
    admin.add_argument("--email", required=True, help="The administrator's email.")
    admin.add_argument("--name", required=True, help="The administrator's name.")
    admin.add_argument(
        "--password-stdin", action="store_true",
        help="Read the password from standard input instead of prompting.",
    )

    export_schema = commands.add_parser("export-schema", help="Write the GraphQL SDL.")
    export_schema.add_argument(
        "--output", type=Path, default=Path("schema.graphql"),
        help="File to write (default schema.graphql; '-' for standard output).",
    )

    _add_export(commands)
    _add_import(commands)
    _add_operations(commands)

    _add_demo(commands)

    commands.add_parser("generate-signing-key", help="Print a new Ed25519 key PEM for "
                        "KIZUNA_JWT_SIGNING_KEY.")
    commands.add_parser("verify", help="Check the ledger's invariants over the whole "
                        "database; exit code 0 only when there is no violation.")
    draw_verify = commands.add_parser(
        "draw-verify", help="Check a prize draw's published proof (docs/draws.md); exit code 0 "
        "only when the seed matches the commitment and the winners follow from it.")
    draw_verify.add_argument("proofs", nargs="+", metavar="PROOF",
                             help="A proof: a JSON file, '-' for standard input, or an "
                             "http(s) URL answering it (several: each is checked).")
    draw_verify.add_argument("--commitment", metavar="HEX", help="The commitment published "
                             "when the draw was created (its draw.created event, a saved "
                             "page): the proof's must be it. Without it the check is only "
                             "internal: a rewritten draw with its own seed and commitment "
                             "would pass.")
    draw_verify.add_argument("--draw-id", metavar="ID", help="The draw's id: the proof's "
                             "drawId must be it.")
    stats = commands.add_parser("stats", help="The programme's roll-ups (docs/analytics.md).")
    stats_commands = stats.add_subparsers(dest="stats_command", required=True,
                                          metavar="ACTION")
    stats_commands.add_parser("rebuild", help="Recompute the roll-ups from the ledger, the "
                              "accounts and the survey answers (for a database that predates "
                              "them); run it while no server writes.")
    commands.add_parser("expire-points", help="Expire what remains of every due lot now "
                        "(safe to run at any time, also while servers run).")
    commands.add_parser("public-key", help="Print the public PEM of the current signing key "
                        "(for KIZUNA_JWT_PREVIOUS_PUBLIC_KEYS after a rotation).")
    commands.add_parser("rotate-signing-key", help="Add a new signing key to the data "
                        "directory; old keys verify until their tokens expire.")

    args = parser.parse_args(argv)
    if args.command == "draw-verify":  # needs no settings nor database
        from api.draw_verify import run  # noqa: PLC0415
        sys.exit(max(run(proof, commitment=args.commitment, draw_id=args.draw_id)
                     for proof in args.proofs))
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        sys.exit(f"kizuna: {error}")

    if args.command == "serve":
        _serve(settings, args.host, args.port, args.workers)
    elif args.command == "create-admin":
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(
            "Password: "
        )
        asyncio.run(_create_admin(settings, args.email, args.name, password))
    elif args.command == "export-schema":
        _export_schema(args.output)
    elif args.command == "generate-signing-key":
        _generate_signing_key()
    elif args.command == "rotate-signing-key":
        _rotate_signing_key(settings)
    elif args.command == "public-key":
        _public_key(settings)
    elif args.command == "verify":
        sys.exit(asyncio.run(_verify(settings)))
    elif args.command == "expire-points":
        asyncio.run(_expire_points(settings))
    elif args.command == "stats":
        sys.exit(asyncio.run(_rebuild_stats(settings)))
    elif args.command == "export":
        sys.exit(_export(settings, args))
    elif args.command == "import":
        sys.exit(_import(settings, args))
    elif args.command == "operations":
        sys.exit(_operations(settings, args))
    elif args.command == "demo":
        sys.exit(_demo(settings, args))


WS_MAX_MESSAGE_BYTES = 64 * 1024


def _serve(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    import uvicorn  # noqa: PLC0415 - only `serve` needs the web server

    from api.logs import configure_logging  # noqa: PLC0415
    from api.services import build_keyring  # noqa: PLC0415
    from store.clock import system_clock  # noqa: PLC0415

    if workers > 1 and settings.mongodb_uri is None:
        sys.exit("kizuna: several workers need a shared MongoDB (set KIZUNA_MONGODB_URI)")
    configure_logging(settings.log_level, settings.log_format, production=settings.production)
    # Create the first signing key now, before any worker could race to make its own.
    build_keyring(settings, system_clock)

    os.environ["KIZUNA_HOST"] = host or settings.host
    os.environ["KIZUNA_PORT"] = str(port or settings.port)
    uvicorn.run(
        "api.asgi:app", host=host or settings.host, port=port or settings.port,
        workers=workers, lifespan="on", server_header=False, access_log=False,
        # Client addresses (sign-in limits) come from X-Forwarded-For only when the peer is
        # a proxy the operator named.
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # WebSockets (subscriptions): graphql-transport-ws messages are small; a bigger one
        # closes the connection (1009). The protocol's own ping keeps idle ones alive.
        ws="websockets-sansio", ws_max_size=WS_MAX_MESSAGE_BYTES, ws_ping_interval=20,
        ws_ping_timeout=20, timeout_graceful_shutdown=10,
        # Our logging (api.logs), set up above and again by each worker's api.asgi: uvicorn
        # must not install its own handlers over it.
        log_config=None, log_level=settings.log_level.value,
    )


async def _create_admin(settings: Settings, email: str, name: str, password: str) -> None:
    from api.services import running  # noqa: PLC0415
    from auth.accounts import create_admin  # noqa: PLC0415
    from store import KizunaError  # noqa: PLC0415

    async with running(settings) as started:
        _say_if_attached(started.database.embedded)
        services = started.services
        try:
            account = await create_admin(
                services.store, services.authenticator.passwords, email=email,
                password=password, name=name, clock=services.clock,
            )
        except KizunaError as error:
            sys.exit(f"kizuna: {error.message} ({error.code})")
    print(f"created administrator {account.email} ({account.id})")


def _export_schema(output: Path) -> None:
    from schema.build import export_sdl  # noqa: PLC0415

    sdl = export_sdl()
    if str(output) == "-":
        sys.stdout.write(sdl)
    else:
        output.write_text(sdl)
        print(f"wrote {output}")


def _generate_signing_key() -> None:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
        Ed25519PrivateKey,
    )

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    sys.stdout.write(pem.decode())


def _rotate_signing_key(settings: Settings) -> None:
    from auth.keys import write_new_key  # noqa: PLC0415
    from store.clock import system_clock  # noqa: PLC0415

    if settings.jwt_signing_key_pem is not None:
        sys.exit("kizuna: keys come from KIZUNA_JWT_SIGNING_KEY; rotate them there")
    path = write_new_key(settings.data_dir / "keys", now=system_clock())
    print(f"new signing key {path.name}; restart the server to use it")


async def _verify(settings: Settings) -> int:
    from api.services import database  # noqa: PLC0415
    from scanner.books import verify  # noqa: PLC0415

    async with database(settings) as opened:
        _say_if_attached(opened.embedded)
        violations = await verify(opened.store)
    for violation in violations:
        print(violation)
    print(f"{len(violations)} violation(s)" if violations else "ok: no violation")
    return 1 if violations else 0


async def _expire_points(settings: Settings) -> None:
    from api.services import database  # noqa: PLC0415
    from loyalty.ledger.expiry import expire_due_lots  # noqa: PLC0415
    from store.clock import system_clock  # noqa: PLC0415

    async with database(settings) as opened:
        _say_if_attached(opened.embedded)
        run = await expire_due_lots(opened.store, clock=system_clock)
    print(f"expired {run.points_expired} points in {run.lots_expired} lots")


async def _rebuild_stats(settings: Settings) -> int:
    from api.services import database  # noqa: PLC0415
    from loyalty.ledger.rollup_books import rebuild  # noqa: PLC0415

    async with database(settings) as opened:
        if opened.embedded is not None and opened.embedded.attached:
            print("kizuna: a server is running on this database; stop it first (a write "
                  "during the rebuild could be counted twice or not at all)", file=sys.stderr)
            return 1
        periods = await rebuild(opened.store)
    print(f"rebuilt the roll-ups: {periods} period(s)")
    return 0


def _day(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-12-05") from None


def _add_export(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    export = commands.add_parser(
        "export", help="Write members, ledger entries or daily figures as CSV or JSON lines "
        "(docs/analytics.md, \"Exports\").")
    export.add_argument("kind", choices=("members", "ledger", "stats"),
                        help="members (one row each), ledger (one row per entry recorded "
                        "in the period) or stats (one row per day of the period).")
    export.add_argument("--from", dest="start", type=_day, metavar="DATE",
                        help="First day (UTC, included): of joining for members, of "
                        "recording for ledger entries. Required for stats.")
    export.add_argument("--to", dest="end", type=_day, metavar="DATE",
                        help="Last day (UTC, included). Required for stats.")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv",
                        help="csv (RFC 4180, with a header row; the default) or jsonl.")
    export.add_argument("--output", type=Path, default=Path("-"), metavar="FILE",
                        help="File to write ('-' or none: standard output); it appears "
                        "only once complete.")
    export.add_argument("--full-scan", action="store_true",
                        help="ledger: select entries by their recording time alone, reading "
                        "the whole ledger (for entries imported with past times).")


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from loyalty.insights.exports import Period  # noqa: PLC0415
    from store import KizunaError  # noqa: PLC0415

    if (args.start is None) != (args.end is None):
        sys.exit("kizuna: give both --from and --to, or neither")
    try:
        period = None if args.start is None else Period(args.start, args.end)
    except KizunaError as error:
        sys.exit(f"kizuna: {error.message} ({error.code})")
    if args.kind == "stats" and period is None:
        sys.exit("kizuna: stats need a period: give --from and --to")
    if args.output != Path("-") and not args.output.parent.is_dir():
        sys.exit(f"kizuna: no directory {args.output.parent} to write {args.output.name} in")
    try:
        return asyncio.run(_run_export(settings, args, period))
    except KeyboardInterrupt:
        print(f"kizuna: export interrupted{_nothing_written(args.output)}", file=sys.stderr)
        return 130


def _nothing_written(output: Path) -> str:
    return "" if output == Path("-") else f"; {output} not written"


async def _run_export(settings: Settings, args: argparse.Namespace,
                      period: "Period | None") -> int:
    import signal  # noqa: PLC0415

    from api.exports import Progress, write_export  # noqa: PLC0415
    from api.services import database  # noqa: PLC0415
    from loyalty.insights.exports import open_export  # noqa: PLC0415
    from store import KizunaError  # noqa: PLC0415

    task = asyncio.current_task()
    if task is not None:  # SIGTERM stops the export the way Ctrl-C does: cleaned up
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    progress = Progress(sys.stderr, enabled=sys.stderr.isatty(), label=f"export {args.kind}")
    try:
        async with database(settings) as opened:
            _say_if_attached(opened.embedded)
            export = open_export(opened.store, args.kind, period, full_scan=args.full_scan)
            result = await write_export(export, args.format, args.output, progress=progress)
    except KizunaError as error:
        print(f"kizuna: {error.message} ({error.code}){_nothing_written(args.output)}",
              file=sys.stderr)
        return 1
    except asyncio.CancelledError:
        print(f"kizuna: export stopped{_nothing_written(args.output)}", file=sys.stderr)
        return 143
    print(result.summary(args.kind), file=sys.stderr)
    return 0


def _add_import(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from api.imports import BATCH_SIZE, MAX_BATCH_SIZE  # noqa: PLC0415

    imports = commands.add_parser(
        "import", help="Bring members, or their opening balances and tiers, over from a "
        "previous programme: CSV or JSON lines, resumable, idempotent (docs/import.md).")
    imports.add_argument("kind", choices=("members", "balances"),
                         help="members (accounts without a password: they sign in after a "
                         "password reset) or balances (opening points and tiers of "
                         "imported members).")
    imports.add_argument("file", type=Path, metavar="FILE", help="The file to import.")
    imports.add_argument("--format", choices=("csv", "jsonl"),
                         help="csv or jsonl (default: from the file's extension).")
    imports.add_argument("--dry-run", action="store_true",
                         help="Check every row against the database and report; write "
                         "nothing.")
    imports.add_argument("--rejected", type=Path, metavar="FILE",
                         help="Where to list the rejected rows (CSV; default "
                         "<FILE's name>.rejected.csv beside FILE).")
    imports.add_argument("--batch-size", type=int, default=BATCH_SIZE, metavar="N",
                         help=f"Rows per transaction (1 to {MAX_BATCH_SIZE}; default "
                         f"{BATCH_SIZE}).")


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from api.imports import MAX_BATCH_SIZE  # noqa: PLC0415

    if not args.file.is_file():
        sys.exit(f"kizuna: no file {args.file}")
    if not 1 <= args.batch_size <= MAX_BATCH_SIZE:
        sys.exit(f"kizuna: --batch-size must be 1 to {MAX_BATCH_SIZE}")
    try:
        return asyncio.run(_run_import(settings, args))
    except KeyboardInterrupt:
        print("kizuna: import interrupted; what was committed stays: run the same command "
              "again to resume", file=sys.stderr)
        return 130


async def _run_import(settings: Settings, args: argparse.Namespace) -> int:
    import signal  # noqa: PLC0415

    from api.exports import Progress  # noqa: PLC0415
    from api.import_files import file_format  # noqa: PLC0415
    from api.imports import run_import_command  # noqa: PLC0415
    from api.services import database  # noqa: PLC0415
    from store import KizunaError  # noqa: PLC0415
    from store.clock import system_clock  # noqa: PLC0415

    task = asyncio.current_task()
    if task is not None:  # SIGTERM stops the import the way Ctrl-C does
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    progress = Progress(sys.stderr, enabled=sys.stderr.isatty(),
                        label=f"import {args.kind}")
    try:
        fmt = file_format(args.file, args.format)
        async with database(settings) as opened:
            _say_if_attached(opened.embedded)
            return await run_import_command(
                opened.store, kind=args.kind, path=args.file, fmt=fmt, report=args.rejected,
                dry_run=args.dry_run, batch_size=args.batch_size, progress=progress,
                clock=system_clock, out=sys.stderr)
    except KizunaError as error:
        print(f"kizuna: {error.message} ({error.code}); nothing was imported",
              file=sys.stderr)
        return 1


def _add_operations(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    operations = commands.add_parser(
        "operations", help="The trusted documents: the apps' operations, from the manifests "
        "Apollo's and Relay's tooling generate (docs/persisted-operations.md).")
    actions = operations.add_subparsers(dest="operations_command", required=True,
                                        metavar="ACTION")
    add = actions.add_parser("add", help="Check every operation of a manifest against the "
                             "schema, then store them all as trusted (or nothing).")
    add.add_argument("manifest", type=Path, metavar="MANIFEST", help="The manifest (JSON).")
    listing = actions.add_parser("list", help="The trusted operations: id, name.")
    listing.add_argument("--all", action="store_true",
                         help="Also the queries registered automatically (APQ).")
    remove = actions.add_parser("remove", help="Remove a stored operation by its id.")
    remove.add_argument("id", metavar="ID", help="The operation's id.")


def _operations(settings: Settings, args: argparse.Namespace) -> int:
    from api import operations_command  # noqa: PLC0415

    if args.operations_command != "add":
        return asyncio.run(_run_operations(settings, args, []))
    checked = operations_command.checked(settings, args.manifest)
    return 1 if checked is None else asyncio.run(_run_operations(settings, args, checked))


async def _run_operations(settings: Settings, args: argparse.Namespace,
                          checked: "list[TrustedOperation]") -> int:
    from api import operations_command  # noqa: PLC0415
    from api.services import database  # noqa: PLC0415

    async with database(settings) as opened:
        _say_if_attached(opened.embedded)
        if args.operations_command == "add":
            return await operations_command.add(opened.store, checked, args.manifest)
        if args.operations_command == "list":
            return await operations_command.listed(opened.store, everything=args.all)
        return await operations_command.remove(opened.store, args.id)


def _add_demo(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    demo = commands.add_parser(
        "demo", help="Load a demo programme (stores, staff, tiers, rewards, rules, members "
        "with a year of history) into an empty database and print sign-ins to try "
        "(docs/demo.md).")
    demo.add_argument("--members", type=int, default=300, metavar="N",
                      help="How many members (1 to 5000; default 300).")
    demo.add_argument("--seed", type=int, default=15, help="Seed of the random history: "
                      "the same seed gives the same programme (default 15).")
    demo.add_argument("--force", action="store_true",
                      help="Load it even with KIZUNA_ENV=production.")


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from api.demo.client import DemoFailure  # noqa: PLC0415
    from api.demo.command import DemoRefused, load_demo  # noqa: PLC0415

    if not 1 <= args.members <= 5000:
        sys.exit("kizuna: --members must be 1 to 5000")
    if settings.production and not args.force:
        sys.exit("kizuna: refusing to load demo data with KIZUNA_ENV=production (its "
                 "accounts have printed passwords); add --force if you really mean it")
    try:
        asyncio.run(load_demo(settings, members=args.members, seed=args.seed,
                              out=sys.stdout, notices=sys.stderr))
    except DemoRefused as refusal:
        print(f"kizuna: {refusal}; nothing was written", file=sys.stderr)
        return 1
    except DemoFailure as failure:
        print(f"kizuna: the demo failed: {failure}; what it wrote stays: start again on a "
              "fresh KIZUNA_DATA_DIR", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kizuna: demo interrupted; what it wrote stays: start again on a fresh "
              "KIZUNA_DATA_DIR", file=sys.stderr)
        return 130
    return 0


def _say_if_attached(embedded: "EmbeddedServer | None") -> None:
    """One line when a command uses the database of a server that is running (`make
    serve`): its changes are live at once, and it must not be mistaken for a fresh one."""
    if embedded is not None and embedded.attached:
        print(f"kizuna: using the embedded database already running for {embedded.data_dir}",
              file=sys.stderr)


def _public_key(settings: Settings) -> None:
    from api.services import build_keyring  # noqa: PLC0415
    from auth.keys import public_pem  # noqa: PLC0415
    from store.clock import system_clock  # noqa: PLC0415

    keyring = build_keyring(settings, system_clock)
    sys.stdout.write(public_pem(keyring.signing.private_key.public_key()))


if __name__ == "__main__":
    main()
