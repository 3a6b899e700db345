"""Relay connections over keyset pages: opaque cursors, `first` capped at 100."""

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated

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
