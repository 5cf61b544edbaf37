"""The web client's content security policy, spelled once for where it is served: by
``local.web`` in development and by CloudFront's response headers policy on AWS
(``infra/web.py``), so a page that breaks the policy breaks in development first."""

from __future__ import annotations


def content_security_policy(connect: list[str], media: list[str]) -> str:
    """Scripts and styles from the page's own origin only (no inline code, no eval);
    ``connect``: the API, its realtime socket and the media CDN (hls.js fetches playlists and
    segments); ``media``: where audio comes from (hls.js feeds the <audio> through blob: URLs,
    and runs its demuxer in a blob: worker)."""
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
        " ".join(["connect-src 'self'", *connect]), " ".join(["media-src 'self' blob:", *media]),
        "worker-src 'self' blob:", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'",
        "object-src 'none'",
    ])
