"""The embedded database server process: mongoeco's wire server on a SQLite file.

Run as `python -m store.embedded_server --data-dir DIR`; it prints `READY <uri>` once it
accepts connections and exits when its standard input closes (its parent went away) or on
SIGTERM. A lock file stops two servers from opening the same database file.
"""

import argparse
import asyncio
import fcntl
import os
import signal
import stat
import sys
from pathlib import Path
from typing import Any

import bson
import bson.errors
from mongoeco.wire.protocol import OP_MSG
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

from store.embedded import EXIT_CANNOT_LISTEN, EXIT_IN_USE, OPENING, URI_FILE
from store.engine import READS_ONLY, KizunaEngine
from store.transaction_gate import TransactionGate, reads_only, transaction_key

DATABASE_FILE = "kizuna.sqlite3"
LOCK_FILE = "embedded.lock"



def command_body(op_code: int, payload: bytes) -> dict[str, Any]:
    """The command document of an OP_MSG (its kind-0 section), decoded by PyMongo's C codec.

    Only the gate needs it, and only a few fields of it; anything unusual (legacy OP_QUERY,
    a malformed message) yields an empty body and is left to mongoeco to answer.
    """
    if op_code != OP_MSG:
        return {}
    offset = 4  # flagBits
    try:
        while offset < len(payload):
            kind = payload[offset]
            size = int.from_bytes(payload[offset + 1 : offset + 5], "little")
            if kind == 0:
                body: dict[str, Any] = bson.decode(payload[offset + 1 : offset + 1 + size])
                return body
            offset += 1 + size
    except (bson.errors.BSONError, IndexError, ValueError):
        return {}
    return {}


def reply_failed(reply: bytes | None) -> bool:
    """Whether an OP_MSG reply (header, flagBits, kind-0 section) says `ok: 0`."""
    if reply is None or len(reply) < 21:
        return False
    try:
        return not bson.decode(reply[21:]).get("ok")
    except (bson.errors.BSONError, ValueError):
        return True


def as_write_conflict(reply: bytes | None) -> bytes | None:
    """A transaction's command that SQLite refused with "database is locked" (its snapshot
    went stale under a commit on another of mongoeco's connections), answered as MongoDB
    answers a write conflict: code 112 with the TransientTransactionError label, on which
    the driver's `with_transaction` runs the whole transaction again. Any other reply is
    returned as it is."""
    if reply is None or len(reply) < 21 or reply[20] != 0:
        return reply
    if b"database is locked" not in reply:  # most replies: a scan, not a decode
        return reply
    try:
        document = bson.decode(reply[21:])
    except (bson.errors.BSONError, ValueError):
        return reply
    if document.get("ok") or "database is locked" not in str(document.get("errmsg", "")):
        return reply
    labels = [*document.get("errorLabels", []), "TransientTransactionError"]
    document.update(code=112, codeName="WriteConflict", errorLabels=labels)
    body = reply[16:21] + bson.encode(document)
    return (16 + len(body)).to_bytes(4, "little") + reply[4:16] + body


class EmbeddedProxyServer(AsyncMongoEcoProxyServer):
    """mongoeco's wire server with every command but a plain read passing the transaction
    gate first; plain reads go to the engine's readers.

    The gate must act before mongoeco builds the request context, because that is where
    the engine binds a transaction to its session.
    """

    def __init__(self, *, engine: Any, host: str, port: int) -> None:
        super().__init__(engine=engine, host=host, port=port)
        self._gate = TransactionGate(is_failure=reply_failed)

    async def _dispatch_wire_request(
        self, header: Any, payload: bytes, *, connection: Any
    ) -> bytes | None:
        body = command_body(header.op_code, payload)
        command = next(iter(body), "")

        async def execute() -> bytes | None:
            response: bytes | None = await super(EmbeddedProxyServer, self)._dispatch_wire_request(
                header, payload, connection=connection
            )
            return response

        async def abort() -> object:
            return await self._executor.execute_command(
                {"abortTransaction": 1, "lsid": body["lsid"], "txnNumber": body["txnNumber"],
                 "autocommit": False},
                connection=connection,
                db_name="admin",
            )

        if reads_only(command, body):
            marked = READS_ONLY.set(True)
            try:
                return await execute()
            finally:
                READS_ONLY.reset(marked)
        reply = await self._gate.run(command, body, execute, abort)
        if transaction_key(body) is not None and command != "abortTransaction":
            return as_write_conflict(reply)
        return reply


def started_by_parent() -> bool:
    """Whether our standard input is a pipe from a parent process (EmbeddedServer), rather
    than a terminal or a file: the parent then speaks for us and watches us."""
    return stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode)


def lock_data_dir(data_dir: Path, *, quiet: bool = False) -> int:
    """Lock `data_dir` for this process, or exit with EXIT_IN_USE when another holds it
    (saying so on standard error unless `quiet`: a parent attaches and tells its user)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if not quiet:
            print(f"kizuna: the embedded database in {data_dir} is in use", file=sys.stderr)
        sys.exit(EXIT_IN_USE)
    return fd


async def serve(data_dir: Path, host: str, port: int) -> None:
    engine = KizunaEngine(str(data_dir / DATABASE_FILE))
    server = EmbeddedProxyServer(engine=engine, host=host, port=port)
    # The data directory is ours: from here on the parent waits as long as opening takes.
    print(OPENING, flush=True)
    try:
        address = await server.start()
    except OSError as error:
        # A restart on our old port finds it taken: one line, and the parent tries again.
        print(f"kizuna: the embedded database cannot listen on {host}:{port}: "
              f"{error.strerror or error}", file=sys.stderr)
        sys.exit(EXIT_CANNOT_LISTEN)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    if started_by_parent():
        # Its end of file means the parent is gone.
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        parent_gone = asyncio.ensure_future(reader.read())
        parent_gone.add_done_callback(lambda _: stop.set())
    uri = f"mongodb://{address.host}:{address.port}/?directConnection=true"
    # Lets other local processes (the CLI, a second app worker) use this running server.
    # Written whole then renamed: a reader never sees half a URI, and a restarted server
    # replaces the file its killed predecessor left behind.
    uri_file = data_dir / URI_FILE
    partial = uri_file.with_name(URI_FILE + ".partial")
    partial.write_text(uri + "\n")
    partial.replace(uri_file)
    print(f"READY {uri}", flush=True)
    try:
        await stop.wait()
    finally:
        uri_file.unlink(missing_ok=True)
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    lock = lock_data_dir(args.data_dir, quiet=started_by_parent())
    try:
        asyncio.run(serve(args.data_dir, args.host, args.port))
    finally:
        os.close(lock)


if __name__ == "__main__":
    main()
