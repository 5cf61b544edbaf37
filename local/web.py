"""``python -m local.web --port N``: serves the web client (``web/``) in development.

The page's files are served as they are (no build step; ``make web`` vendors hls.js into
``web/vendor/``), with ``Cache-Control: no-cache`` so an edit shows on reload, and with the
content security policy the deployed page gets (``parlor_contract.web``), naming this stack's
API, socket and CDN. ``/config.json`` is made from the environment the stack gives every
process: the API's URL (``PARLOR_API_URL``) and the realtime URL (``PARLOR_REALTIME_URL``),
so the page calls this stack's ports; on AWS the CDK writes the same file (``infra/web.py``).
Only what the page needs is served (``index.html``, ``style.css``, ``js/``, ``vendor/``):
not the npm files, not ``node_modules``. ``/s/{space_id}``, a space's public share page, is
the API's (it renders it from the space): passed to ``{api_url}/s/{space_id}`` and back, as
the deployed web distribution routes ``/s/*`` to the API.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

import aiohttp
from aiohttp import web

from local import logs
from parlor_contract.web import content_security_policy

log = logging.getLogger("local.web")
ROOT = Path(__file__).resolve().parent.parent / "web"
HEALTH_PATH = "/_parlor/health"  # local.stack waits for it
PUBLIC_FILES = frozenset({"index.html", "style.css"})
PUBLIC_DIRS = frozenset({"js", "vendor"})
# Browsers load ES modules only with a JavaScript type; mimetypes' answer varies by system.
CONTENT_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".mjs": "text/javascript",
                 ".json": "application/json", ".map": "application/json", ".svg": "image/svg+xml", ".png": "image/png",
                 ".ico": "image/x-icon"}


# What the share page keeps of the API's answer (the policy is the page origin's own).
SHARE_HEADERS = ("Content-Type", "Cache-Control")


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}" if rest else ""


def page_policy(env: Mapping[str, str]) -> str:
    """The content security policy the deployed page gets, with this stack's API, socket and CDN."""
    from chalicelib.settings import Settings

    api, ws, cdn = (_origin(env.get(Settings.env_name(name), "")) for name in ("api_url", "realtime_url", "cdn_url"))
    return content_security_policy([o for o in (api, ws, cdn) if o], [cdn] if cdn else [])


def page_config(env: Mapping[str, str]) -> dict[str, str]:
    """What ``web/config.json`` holds: the API's URL and, when set, the realtime URL."""
    from chalicelib.settings import Settings

    api_url = env.get(Settings.env_name("api_url"), "").rstrip("/")
    if not api_url:
        raise SystemExit(f"local.web needs {Settings.env_name('api_url')} (the stack sets it)")
    config = {"api_url": api_url}
    realtime_url = env.get(Settings.env_name("realtime_url"), "")
    if realtime_url:
        config["realtime_url"] = realtime_url
    return config


def resolve(root: Path, request_path: str) -> Path | None:
    """The file a request path names, if it is one the page needs; never outside ``root``."""
    relative = request_path.lstrip("/") or "index.html"
    parts = Path(relative).parts
    if not parts or ".." in parts or not (relative in PUBLIC_FILES or (len(parts) > 1 and parts[0] in PUBLIC_DIRS)):
        return None
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        return None
    return path


def create_app(config: Mapping[str, str], policy: str, root: Path = ROOT) -> web.Application:
    async def config_json(request: web.Request) -> web.Response:
        return web.json_response(dict(config), headers={"Cache-Control": "no-cache"})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def share_page(request: web.Request) -> web.Response:
        url = f"{config['api_url']}/s/{quote(request.match_info['space_id'], safe='')}"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session, \
                    session.get(url, allow_redirects=False) as upstream:
                body = await upstream.read()
                kept = {name: upstream.headers[name] for name in SHARE_HEADERS if name in upstream.headers}
        except (TimeoutError, aiohttp.ClientError):
            raise web.HTTPBadGateway(text="The API is not answering.\n") from None
        return web.Response(status=upstream.status, body=body, headers={
            **kept, "X-Content-Type-Options": "nosniff", "Content-Security-Policy": policy})

    async def serve(request: web.Request) -> web.StreamResponse:
        path = resolve(root, request.path)
        if path is None:
            raise web.HTTPNotFound(text="Not found\n")
        content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "no-cache",
                                               "X-Content-Type-Options": "nosniff", "Content-Security-Policy": policy})

    app = web.Application()
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_get("/config.json", config_json)
    app.router.add_get("/s/{space_id}", share_page)
    app.router.add_get("/{path:.*}", serve)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve Parlor's web client with a config.json for this stack")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    logs.configure("web")
    if not (ROOT / "vendor" / "hls.min.js").is_file():
        log.warning("web/vendor/hls.min.js is missing: run `make web` (HLS listening and replays need it)")
    web.run_app(create_app(page_config(os.environ), page_policy(os.environ)), host=args.host, port=args.port, print=None,
                access_log_class=logs.AccessLog)


if __name__ == "__main__":
    main()
