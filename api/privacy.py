"""The one place where every package's personal data is registered (for the member's
export and for erasure), and the route that serves an export's download link.

To register a new collection's personal data: declare a `PersonalData` in the package that
owns the collection (see events/personal_data.py and, as examples, auth/privacy.py,
loyalty/members/privacy.py) and add it to `personal_data` below — one line. Its export
becomes a section of `myDataExport`, its eraser runs on every erasure, and the tests that
search every collection for an erased member's data check it too.
"""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from api.state import AppState
from auth import privacy as auth_privacy
from auth.data_export import export_stream
from auth.export_links import ExpiredExportLink, InvalidExportLink
from auth.refresh_tokens import RefreshTokens
from events import privacy as events_privacy
from events.personal_data import PersonalData
from loyalty.badges import privacy as badge_privacy
from loyalty.members import privacy as loyalty_privacy
from loyalty.play import challenge_privacy, draw_privacy, leaderboard_privacy
from scanner import privacy as scanner_privacy
from store import KizunaError


def personal_data(refresh_tokens: RefreshTokens) -> tuple[PersonalData, ...]:
    """Every declaration, in the export's section order (erasure runs them by phase)."""
    return (
        *auth_privacy.PERSONAL_DATA,
        auth_privacy.sign_ins_data(refresh_tokens),
        *loyalty_privacy.PERSONAL_DATA,
        *draw_privacy.PERSONAL_DATA,
        *badge_privacy.PERSONAL_DATA,
        *leaderboard_privacy.PERSONAL_DATA,
        *challenge_privacy.PERSONAL_DATA,
        *scanner_privacy.PERSONAL_DATA,
        *events_privacy.PERSONAL_DATA,
    )


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status,
                        headers={"cache-control": "no-store"})


def data_export_endpoint(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    """`GET /data-export/{token}`: the export a link opens, streamed as a JSON file. No
    bearer token: the signed link is the credential (auth/export_links.py)."""

    async def data_export(request: Request) -> Response:
        services = state.services
        try:
            member_id = services.data_rights.links.verify(request.path_params["token"])
        except ExpiredExportLink:
            return _error(410, "This download link has expired: ask for your data again.")
        except InvalidExportLink:
            return _error(404, "No such download link.")
        try:
            pieces = await export_stream(services.store, services.data_rights.personal_data,
                                         member_id=member_id, clock=services.clock)
        except KizunaError:
            return _error(410, "There is no data to download for this link any more.")
        return StreamingResponse(
            (piece.encode() async for piece in pieces), media_type="application/json",
            headers={"content-disposition":
                     f'attachment; filename="kizuna-member-data-{member_id}.json"',
                     "cache-control": "no-store", "x-content-type-options": "nosniff",
                     "referrer-policy": "no-referrer"})

    return data_export
