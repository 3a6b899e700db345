"""The database layer: one transaction helper, the embedded server's gate, persistence."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import bson
import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from store import IndexSpec, Session, Store, connect, ensure_indexes, log_retrying
from store.embedded import EmbeddedServer, EmbeddedServerInUse
from store.embedded_server import as_write_conflict
from store.transaction_gate import TransactionGate


async def test_concurrent_transactions_never_lose_an_update(store: Store) -> None:
    counters = store.collection("counters")
    await counters.insert_one({"_id": "c", "n": 0})

    async def increment(i: int) -> None:
        async def work(session: Session) -> None:
            doc = await counters.find_one({"_id": "c"}, session=session)
            assert doc is not None
            # Read-modify-write: only correct if transactions are isolated.
            await counters.update_one({"_id": "c"}, {"$set": {"n": doc["n"] + 1}}, session=session)
            await store.collection("log").insert_one({"i": i}, session=session)

        await store.transaction(work)

    async def plain_read_and_write(i: int) -> None:
        await counters.find_one({"_id": "c"})
        await store.collection("plain").insert_one({"i": i})

    await asyncio.gather(
        *(increment(i) for i in range(25)), *(plain_read_and_write(i) for i in range(25))
    )
    doc = await counters.find_one({"_id": "c"})
    assert doc is not None and doc["n"] == 25
    assert await store.collection("log").count_documents({}) == 25
    assert await store.collection("plain").count_documents({}) == 25



async def test_a_read_waits_only_for_what_arrived_before_it_not_for_a_stream_of_writes(
    store: Store,
) -> None:
    """Writers keep transactions coming back to back; a read that arrives meanwhile is
    answered after the few transactions ahead of it, not after the whole stream."""
    counters = store.collection("counters")
    await counters.insert_one({"_id": "c", "n": 0})
    committed = 0
    writers, rounds = 4, 12
    writing = asyncio.Event()

    async def work(session: Session) -> None:
        await counters.update_one({"_id": "c"}, {"$inc": {"n": 1}}, session=session)
        await store.collection("log").insert_one({"n": 1}, session=session)

    async def keep_writing() -> None:
        nonlocal committed
        for _ in range(rounds):
            await store.transaction(work)
            committed += 1
            if committed == writers:
                writing.set()

    async def read_once_writing_started() -> int:
        await writing.wait()
        doc = await counters.find_one({"_id": "c"})
        assert doc is not None
        return committed

    *_, committed_when_read = await asyncio.gather(
        *(keep_writing() for _ in range(writers)), read_once_writing_started()
    )

    # Arrival order: the read goes after what was queued when it came (a few transactions),
    # long before the writers are done.
    assert committed_when_read < writers * rounds // 2, committed_when_read
    assert committed == writers * rounds

async def test_failed_transaction_writes_nothing(store: Store) -> None:
    async def work(session: Session) -> None:
        await store.collection("things").insert_one({"a": 1}, session=session)
        await store.collection("other").insert_one({"b": 1}, session=session)
        raise RuntimeError("crash between writes")

    with pytest.raises(RuntimeError):
        await store.transaction(work)
    assert await store.collection("things").count_documents({}) == 0
    assert await store.collection("other").count_documents({}) == 0
    # The database is usable at once afterwards (the gate was released).
    await store.collection("things").insert_one({"a": 2})
    assert await store.collection("things").count_documents({}) == 1


async def test_transaction_returns_the_work_result(store: Store) -> None:
    async def work(session: Session) -> str:
        await store.collection("things").insert_one({"_id": "x"}, session=session)
        return "done"

    assert await store.transaction(work) == "done"


async def test_creating_indexes_twice_is_harmless(store: Store) -> None:
    specs = [IndexSpec("things", (("email", 1),), name="email_unique", unique=True)]
    await ensure_indexes(store, specs)
    await ensure_indexes(store, specs)
    info = await store.collection("things").index_information()
    assert info["email_unique"]["unique"] is True


async def test_embedded_data_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "db"
    first = await EmbeddedServer.start(data_dir)
    store = connect(first.uri, "kizuna")
    await store.collection("things").insert_one({"_id": "kept"})
    await store.close()
    await first.stop()

    second = await EmbeddedServer.start(data_dir)
    try:
        store = connect(second.uri, "kizuna")
        assert await store.collection("things").find_one({"_id": "kept"}) == {"_id": "kept"}
        await store.close()
    finally:
        await second.stop()


async def test_second_server_on_the_same_data_dir_attaches_instead(tmp_path: Path) -> None:
    data_dir = tmp_path / "db"
    running = await EmbeddedServer.start(data_dir)
    try:
        with pytest.raises(EmbeddedServerInUse):
            await EmbeddedServer.start(data_dir)
        attached = await EmbeddedServer.start_or_attach(data_dir)
        assert attached.uri == running.uri
        await attached.stop()  # does not stop the server it attached to
        store = connect(running.uri, "kizuna")
        await store.ping()
        await store.close()
    finally:
        await running.stop()


def test_a_background_job_logs_an_outage_in_one_line_and_a_bug_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("kizuna.test.jobs")
    with caplog.at_level(logging.WARNING, logger="kizuna.test.jobs"):
        log_retrying(log, "expiry failed", AutoReconnect("connection refused"))
        log_retrying(log, "expiry failed", ValueError("a bug"))

    outage, bug = caplog.records
    assert (outage.levelno, outage.exc_info) == (logging.WARNING, None)
    assert outage.getMessage() == "expiry failed: AutoReconnect: connection refused"
    assert bug.levelno == logging.ERROR and bug.exc_info is not None


def _op_msg_reply(document: dict[str, object]) -> bytes:
    body = (0).to_bytes(4, "little") + b"\x00" + bson.encode(document)
    return (16 + len(body)).to_bytes(4, "little") + bytes(range(12)) + body


def test_a_locked_database_inside_a_transaction_is_a_write_conflict_the_driver_retries() -> None:
    locked = _op_msg_reply({"ok": 0.0, "errmsg": "database is locked"})

    relabelled = as_write_conflict(locked)

    assert relabelled is not None
    assert relabelled[4:16] == locked[4:16]  # the same request id and response-to
    assert int.from_bytes(relabelled[:4], "little") == len(relabelled)
    document = bson.decode(relabelled[21:])
    assert (document["code"], document["errorLabels"]) == (112, ["TransientTransactionError"])
    assert OperationFailure(document["errmsg"], document["code"], document).has_error_label(
        "TransientTransactionError")
    for untouched in (_op_msg_reply({"ok": 1.0}),
                      _op_msg_reply({"ok": 0.0, "errmsg": "E11000 duplicate key"}), None):
        assert as_write_conflict(untouched) == untouched


async def test_the_gate_aborts_an_idle_transaction_but_never_one_at_work() -> None:
    """A transaction is abandoned when its client stops sending commands for its lifetime,
    not when one of its commands (a long read, as in `kizuna verify`) runs that long."""
    gate = TransactionGate(is_failure=lambda reply: False, lifetime_seconds=0.2)
    aborted: list[str] = []
    order: list[str] = []

    def transaction(name: str, number: int) -> dict[str, object]:
        return {"lsid": {"id": name}, "txnNumber": number, "autocommit": False}

    async def reply(after: float = 0.0, note: str = "") -> bytes:
        await asyncio.sleep(after)
        if note:
            order.append(note)
        return b""

    def abort_of(name: str) -> Callable[[], Awaitable[object]]:
        async def abort() -> object:
            aborted.append(name)
            return None
        return abort

    long_reader = transaction("verify", 1)
    await gate.run("find", {**long_reader, "startTransaction": True}, reply, abort_of("verify"))
    reading = asyncio.create_task(gate.run(
        "aggregate", long_reader, lambda: reply(1.5, "verify read"), abort_of("verify")))
    await asyncio.sleep(0.05)
    write = asyncio.create_task(gate.run("insert", {}, lambda: reply(0, "write"), abort_of("w")))
    await reading
    await gate.run("commitTransaction", long_reader, lambda: reply(0, "verify commit"),
                   abort_of("verify"))
    await write
    assert aborted == []
    assert order == ["verify read", "verify commit", "write"]

    idle = transaction("died", 2)
    await gate.run("insert", {**idle, "startTransaction": True}, reply, abort_of("died"))
    await asyncio.wait_for(gate.run("insert", {}, lambda: reply(0, "next"), abort_of("n")), 5)
    assert aborted == ["died"]


async def test_ending_sessions_waits_for_the_write_in_progress() -> None:
    """mongoeco ends a session's transaction on the one writer connection: run beside a
    write, endSessions rolled that write back and an acknowledged insert was lost."""
    gate = TransactionGate(is_failure=lambda reply: False)
    order: list[str] = []

    async def step(note: str, after: float = 0.0) -> bytes:
        await asyncio.sleep(after)
        order.append(note)
        return b""

    async def no_abort() -> object:
        return None

    write = asyncio.create_task(gate.run("insert", {}, lambda: step("insert", 0.3), no_abort))
    await asyncio.sleep(0.05)
    await gate.run("endSessions", {"endSessions": []}, lambda: step("endSessions"), no_abort)
    await write
    assert order == ["insert", "endSessions"]
