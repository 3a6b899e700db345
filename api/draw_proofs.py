"""`GET /draws/{draw_id}/proof`: a closed prize draw's published proof, for anyone (no
sign-in: a proof names no member, docs/draws.md), so that `kizuna draw-verify URL` can
check it. `draw_id` is the proof's `drawId` or the Draw's GraphQL id."""

import base64
import binascii
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.state import AppState
from loyalty.play.draws import get_draws


def _stored_id(given: str) -> str:
    """The stored id inside a GraphQL global id ("Draw:<id>" in base64), else `given`."""
    try:
        decoded = base64.b64decode(given, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return given
    kind, _, inner = decoded.partition(":")
    return inner if kind == "Draw" and inner else given


def draw_proof_endpoint(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    async def draw_proof(request: Request) -> Response:
        draw_id = _stored_id(request.path_params["draw_id"])
        draw = (await get_draws(state.services.store, [draw_id])).get(draw_id)
        if draw is None or draw.proof is None:
            return JSONResponse({"error": "No closed draw has this id."}, status_code=404,
                                headers={"cache-control": "no-store"})
        # A closed draw's proof never changes.
        return JSONResponse(dict(draw.proof), headers={
            "cache-control": "public, max-age=86400", "x-content-type-options": "nosniff"})

    return draw_proof
