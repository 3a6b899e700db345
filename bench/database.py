"""Reaching the database of the server under test directly, with PyMongo, as our code does.

Where it is comes from the server's KIZUNA_* settings (`Target.settings`): a real MongoDB
at KIZUNA_MONGODB_URI, or else the embedded server the Kizuna server started for
KIZUNA_DATA_DIR, which writes its address to `<data dir>/db/embedded.uri`. The bench uses
this to check what it seeded (counts no API shows) and to measure the raw ceiling
(bench.raw_earn) against the very same database server.
"""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from bench.graphql import BenchError
from bench.servers import REPO_ROOT, Target
from store import Store, connect
from store.embedded import URI_FILE

DEFAULT_DATA_DIR = ".kizuna"
DEFAULT_DATABASE = "kizuna"


def database_uri(target: Target) -> str:
    """The MongoDB URI of the target's database server; BenchError if it cannot be found."""
    uri = target.settings.get("KIZUNA_MONGODB_URI")
    if uri:
        return uri
    data_dir = Path(target.settings.get("KIZUNA_DATA_DIR", DEFAULT_DATA_DIR))
    if not data_dir.is_absolute():
        # `kizuna serve` and the bench's own server run from the repository root.
        data_dir = REPO_ROOT / data_dir
    uri_file = data_dir / "db" / URI_FILE
    try:
        return uri_file.read_text().strip()
    except OSError as error:
        raise BenchError(
            f"cannot find the server's database: no {uri_file} ({error.strerror}); with "
            "--url, run the bench with the server's KIZUNA_DATA_DIR or KIZUNA_MONGODB_URI"
        ) from error


def database_name(target: Target) -> str:
    return target.settings.get("KIZUNA_DATABASE", DEFAULT_DATABASE)


@contextlib.asynccontextmanager
async def open_store(target: Target, database: str | None = None) -> AsyncIterator[Store]:
    """A `Store` (store.client.connect: our client options and command counter) on the
    target's database server, for `database` (default: the server's own database)."""
    store = connect(database_uri(target), database or database_name(target))
    try:
        await store.ping()
        yield store
    finally:
        await store.close()
