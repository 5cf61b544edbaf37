"""``GET /s/{space_id}``: a space's public page, for people and link previews, without signing in.

The API renders it (``services/share_page.py``) because only the API reads spaces; the web
origin serves the same path by passing it to the API (``local/web.py`` in development, a
CloudFront behaviour on AWS), so a shared link is on the web origin. HTML, not JSON: outside
the OpenAPI document (``public=False``).
"""

from __future__ import annotations

from chalice import Response

from chalicelib.api.routing import Call, Router
from chalicelib.errors import DomainError, NotFound, UserNotFound
from chalicelib.models.users import UserModel
from chalicelib.services.share_page import render, render_not_found, share_links
from chalicelib.wiring import services
from parlor_contract.web import content_security_policy

router = Router(__name__, tag="share")

# Counts change: previews and browsers may reuse the page for a minute, no more.
CACHE_SECONDS = 60


def _page(status: int, body: str, cache: str) -> Response:
    return Response(body=body, status_code=status, headers={
        "Content-Type": "text/html; charset=utf-8", "Cache-Control": cache, "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": content_security_policy([], []), "Referrer-Policy": "strict-origin-when-cross-origin"})


def _error_page(exc: DomainError) -> Response | None:
    """An unknown space is a page saying so; other refusals (a bad query) are the API's JSON."""
    return _page(404, render_not_found(), "no-cache") if isinstance(exc, NotFound) else None


@router.route("GET", "/s/{space_id}", summary="A space's public page (HTML)", auth=False, public=False,
              error_page=_error_page)
def share_page(call: Call) -> Response:
    container = services()
    space = container.spaces.get(call.params["space_id"])
    try:
        host: UserModel | None = UserModel.lookup(space.creator_id)
    except UserNotFound:
        host = None  # the host deleted their account: the page still says what the space was
    links = share_links(space.space_id, container.settings.web_url, container.settings.api_url)
    return _page(200, render(space, host, links), f"public, max-age={CACHE_SECONDS}")
