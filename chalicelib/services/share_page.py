"""The public page of a space (``/s/{space_id}`` on the web origin): what a shared link shows
to someone who is not signed in, and to the crawlers that build link previews.

Rendered here, on the server, because crawlers (Slack, iMessage, X, Facebook) run no
JavaScript: the Open Graph and Twitter-card tags must be in the HTML as served. Every value
that comes from people (title, host names) is escaped for HTML text and attributes. The page
has no script and no inline style (its styles are the web client's ``style.css``, same
origin), so it lives under the web client's content security policy unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from chalicelib.clock import timestamp
from chalicelib.models.spaces import CANCELED, ENDED, LIVE, SpaceModel
from chalicelib.models.users import UserModel

APP_SCHEME = "parlor"
SITE_NAME = "Parlor"


@dataclass(frozen=True)
class ShareLinks:
    """Where a shared space points: the page itself, the app, the web client's room."""

    page: str
    app: str
    web: str | None


def share_links(space_id: str, web_url: str, api_url: str) -> ShareLinks:
    """The page is on the web origin when there is one (else the API, which renders it)."""
    base = (web_url or api_url).rstrip("/")
    return ShareLinks(page=f"{base}/s/{space_id}", app=f"{APP_SCHEME}://spaces/{space_id}",
                      web=f"{web_url.rstrip('/')}/#/spaces/{space_id}" if web_url else None)


def summary(space: SpaceModel, host: UserModel | None) -> str:
    """One line for previews: state, listeners or time, host."""
    by = f" · hosted by {host.display_name} (@{host.handle})" if host else ""
    if space.state == LIVE:
        count = int(space.listener_count)
        return f"Live now · {count} listening{by}"
    if space.state == ENDED:
        return f"Ended {_when(space.ended_at)}{by}"
    if space.state == CANCELED:
        return f"Canceled{by}"
    return f"Scheduled for {_when(space.scheduled_start)}{by}"


def render(space: SpaceModel, host: UserModel | None, links: ShareLinks) -> str:
    title = space.title
    description = summary(space, host)
    e = _attr
    meta = [
        ("name", "description", description),
        ("property", "og:type", "website"),
        ("property", "og:site_name", SITE_NAME),
        ("property", "og:title", title),
        ("property", "og:description", description),
        ("property", "og:url", links.page),
        ("name", "twitter:card", "summary"),
        ("name", "twitter:title", title),
        ("name", "twitter:description", description),
        ("property", "al:ios:url", links.app),
        ("property", "al:ios:app_name", SITE_NAME),
        ("property", "al:android:url", links.app),
        ("property", "al:android:app_name", SITE_NAME),
        *([("property", "al:web:url", links.web)] if links.web else []),
    ]
    head = "\n".join(f'<meta {kind}="{e(name)}" content="{e(value)}">' for kind, name, value in meta)
    when = _time_line(space)
    host_line = (f'<p class="share-host">Hosted by {_text(host.display_name)} '
                 f'<span class="share-handle">@{_text(host.handle)}</span></p>') if host else ""
    listeners = (f'<p class="share-listeners">{int(space.listener_count)} listening</p>'
                 if space.state == LIVE else "")
    web_link = f' <a class="share-web" href="{e(links.web)}">Listen on the web</a>' if links.web else ""
    return f"""<!doctype html>
<html lang="{e(space.lang or 'en')}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_text(title)} · {SITE_NAME}</title>
{head}
<link rel="canonical" href="{e(links.page)}">
<link rel="stylesheet" href="/style.css">
</head>
<body class="share">
<main class="share-card" data-space-id="{e(space.space_id)}" data-state="{e(space.state)}">
<p class="share-state">{_text(_STATE_LABELS.get(space.state, space.state))}</p>
<h1 class="share-title">{_text(title)}</h1>
{host_line}
{when}
{listeners}
<p class="share-open"><a class="share-app" href="{e(links.app)}">Open in the {SITE_NAME} app</a>{web_link}</p>
</main>
</body>
</html>
"""


def render_not_found() -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Space not found · {SITE_NAME}</title>
<link rel="stylesheet" href="/style.css">
</head>
<body class="share">
<main class="share-card">
<h1 class="share-title">This space does not exist</h1>
<p>The link may be mistyped, or the space was deleted.</p>
</main>
</body>
</html>
"""


_STATE_LABELS = {LIVE: "Live", ENDED: "Ended", CANCELED: "Canceled", "scheduled": "Scheduled"}


def _time_line(space: SpaceModel) -> str:
    if space.state == LIVE and space.started_at:
        return f'<p class="share-time">Started {_time(space.started_at)}</p>'
    if space.state == ENDED and space.ended_at:
        return f'<p class="share-time">Started {_time(space.started_at)} · ended {_time(space.ended_at)}</p>'
    if space.scheduled_start:
        return f'<p class="share-time">Scheduled for {_time(space.scheduled_start)}</p>'
    return ""


def _time(at: datetime | None) -> str:
    if at is None:
        return ""
    return f'<time datetime="{_attr(timestamp(at) or "")}">{_text(_when(at))}</time>'


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else ""


def _text(value: str) -> str:
    return escape(value, quote=False)


def _attr(value: str) -> str:
    return escape(value, quote=True)
