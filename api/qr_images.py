"""QR images of a member's vouchers over plain HTTP, for apps that want an image URL.

`GET /vouchers/{id}/qr.png` or `.svg` with the member's (or an admin's) bearer token. The
token inside is signed per request, but Ed25519 signatures are deterministic, so the same
voucher and key give the same image: it is cached (ETag, private max-age) by clients and
rendered at most once per process by the QrRenderer.
"""

import hashlib
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.state import AppState
from auth.sign_in import authenticate
from auth.tokens import InvalidAccessToken
from scanner.vouchers import VoucherStatus, get_vouchers
from schema.permissions import may_see_account

_MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def _error(status: int, message: str) -> Response:
    headers = {"www-authenticate": 'Bearer error="invalid_token"'} if status == 401 else {}
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def voucher_qr_endpoint(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    async def voucher_qr(request: Request) -> Response:
        image_format = request.path_params["format"]
        if image_format not in _MEDIA_TYPES:
            return _error(404, "Use qr.png or qr.svg.")
        services = state.services
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "Send the member's access token as a Bearer token.")
        try:
            principal = authenticate(services.authenticator, token.strip())
        except InvalidAccessToken:
            return _error(401, "The access token is invalid or expired.")
        voucher_id = request.path_params["voucher_id"]
        voucher = (await get_vouchers(services.store, [voucher_id])).get(voucher_id)
        if voucher is None or not may_see_account(principal, voucher.member_id):
            return _error(404, "No such voucher.")
        if voucher.status(services.clock()) is not VoucherStatus.ACTIVE:
            return _error(410, "This voucher can no longer be used.")
        payload = services.scanning.tokens.sign(
            voucher_id=voucher.id, code=voucher.code, expires_at=voucher.expires_at
        )
        etag = '"' + hashlib.sha256(f"{image_format}:{payload}".encode()).hexdigest()[:32] + '"'
        headers = {
            "etag": etag,
            "cache-control": "private, max-age=300",
            "x-content-type-options": "nosniff",
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        body: bytes | str = (
            await services.qr.png(payload) if image_format == "png"
            else await services.qr.svg(payload)
        )
        return Response(body, media_type=_MEDIA_TYPES[image_format], headers=headers)

    return voucher_qr
