"""Relay connections over keyset pages: opaque cursors, `first` capped at 100."""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.exceptions import StrawberryGraphQLError

from store.pagination import MAX_PAGE_SIZE, Page

First = Annotated[
    int, strawberry.argument(description=f"How many items to return (0–{MAX_PAGE_SIZE}).")
]
After = Annotated[
    str | None,
    strawberry.argument(description="Return items after this cursor (a page's endCursor)."),
]


def _invalid(message: str, field: str) -> StrawberryGraphQLError:
    # Queries have no payload to carry errors: bad arguments are top-level errors with a code.
    return StrawberryGraphQLError(
        message, extensions={"code": "INVALID_INPUT", "field": [field]}
    )


def encode_cursor(document_id: str) -> str:
    return base64.urlsafe_b64encode(f"cursor:{document_id}".encode()).decode()


def decode_cursor(cursor: str | None) -> str | None:
    """The document id inside a cursor; raises InvalidInput for a cursor we did not make."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.startswith("cursor:"):
        raise _invalid("This cursor is not valid.", "after")
    return text.removeprefix("cursor:")


def check_first(first: int) -> int:
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise _invalid(f"`first` must be between 0 and {MAX_PAGE_SIZE}.", "first")
    return first


def connection[D, N: relay.Node](
    items: Sequence[D], page: Page, *, node: Callable[[D], N], item_id: Callable[[D], str]
) -> relay.Connection[N]:
    edges = [relay.Edge(cursor=encode_cursor(item_id(item)), node=node(item)) for item in items]
    return relay.Connection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=page.has_next,
            has_previous_page=False,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


_KEYED = "keyed:"


def encode_key_cursor(order: str, value: object, document_id: str) -> str:
    """A cursor of a list sorted by a key then id: its order's name, the key's value
    (a number, a time or null) and the id."""
    raw = {"at": value.isoformat()} if isinstance(value, datetime) else value
    text = json.dumps({"o": order, "v": raw, "i": document_id})
    return base64.urlsafe_b64encode((_KEYED + text).encode()).decode()


def decode_key_cursor(cursor: str | None, order: str) -> tuple[Any, str] | None:
    """The (value, id) inside a cursor of `order`; a top-level INVALID_INPUT error for any
    other text (a cursor of another list or order included)."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        data = json.loads(text.removeprefix(_KEYED)) if text.startswith(_KEYED) else None
        if isinstance(data, dict) and data.get("o") == order and isinstance(data.get("i"), str):
            return _key_value(data.get("v")), data["i"]
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        pass
    raise _invalid("This cursor is not valid for this list and order.", "after")


_INT64 = 2**63


def _key_value(raw: object) -> Any:
    if raw is None or type(raw) is float:
        return raw
    if type(raw) is int and -_INT64 <= raw < _INT64:  # what BSON can hold
        return raw
    if isinstance(raw, dict) and isinstance(raw.get("at"), str):
        moment = datetime.fromisoformat(raw["at"])
        if moment.tzinfo is not None:
            return moment
    raise ValueError("not a key value")
