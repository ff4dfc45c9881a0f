"""The console's media route: a citizen's photo, for signed-in staff or for whoever holds a signed, unexpired URL.

A session opened with a temporary password is not yet a staff session here, as on every other staff page: it must
choose its own password first.
"""

from __future__ import annotations

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.web import Console, staff_session
from bot.town.media import CONTENT_TYPES, MediaSigner, MediaStore

MEDIA_ROUTE = "/media"
MEDIA_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}


def create_media_blueprint(console: Console, media: MediaStore, signer: MediaSigner) -> Blueprint:
    """GET /media/<name>: 401 without a session or signature, 403 with a wrong or expired signature, 404 if gone."""
    bp = Blueprint(f"console_media_{id(console)}")

    @bp.get(f"{MEDIA_ROUTE}/<name:str>", name="media")
    async def photo(request: Request, name: str) -> HTTPResponse:
        if not signer.verify(name, request.args) and not await _full_staff_session(console, request):
            signed = "signature" in request.args or "expires" in request.args
            status, error = (403, "invalid_or_expired_signature") if signed else (401, "sign_in_required")
            return response.json({"error": error}, status=status, headers=MEDIA_HEADERS)
        path = media.path_of(name)
        if path is None:
            return response.json({"error": "not_found"}, status=404, headers=MEDIA_HEADERS)
        return await response.file(path, mime_type=CONTENT_TYPES[path.suffix], headers=MEDIA_HEADERS)

    return bp


async def _full_staff_session(console: Console, request: Request) -> bool:
    """Whether the request carries a staff session that has chosen its own password."""
    session = await staff_session(console, request)
    return session is not None and not session.user.must_change_password
