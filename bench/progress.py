"""Progress lines on standard error, so standard output holds only the report."""

import sys
import time

_START = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)
