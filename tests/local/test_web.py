"""``python -m local.web``: the web client's files as the browser needs them, and a
``config.json`` naming this stack's API."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import requests

from local import web
from local.stack import ROOT, Ports, components, stack_env
from tests.waiting import wait_for

API_URL = "http://127.0.0.1:18000"


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.ConnectionError:
        return False


@contextmanager
def _local_web(**env: str) -> Iterator[str]:
    """``python -m local.web`` on a free port with these variables; its base URL."""
    port = Ports.free().web
    process = subprocess.Popen([sys.executable, "-m", "local.web", "--port", str(port)], cwd=ROOT,
                               env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: process.poll() is not None or _answers(base + web.HEALTH_PATH), 20, "local.web ready")
        assert process.poll() is None, "local.web exited"
        yield base
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with _local_web(PARLOR_API_URL=API_URL + "/", PARLOR_REALTIME_URL="ws://127.0.0.1:18001",
                    PARLOR_CDN_URL="http://127.0.0.1:18003") as base:
        yield base


def test_the_page_and_its_modules_are_served_with_their_types(served: str):
    page = requests.get(served + "/", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<script type="module" src="js/main.js">' in page.text and 'data-testid="error"' in page.text
    assert requests.get(served + "/index.html", timeout=5).text == page.text
    for module in ("js/main.js", "js/api.js", "js/room.js", "js/views/space.js"):
        reply = requests.get(f"{served}/{module}", timeout=5)
        assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("text/javascript"), module
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
    policy = dict(d.split(" ", 1) for d in page.headers["Content-Security-Policy"].split("; "))
    assert policy["script-src"] == "'self'" and "unsafe" not in page.headers["Content-Security-Policy"]
    assert policy["connect-src"] == "'self' http://127.0.0.1:18000 ws://127.0.0.1:18001 http://127.0.0.1:18003"
    assert policy["media-src"] == "'self' blob: http://127.0.0.1:18003"
    css = requests.get(served + "/style.css", timeout=5)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


def test_config_json_names_the_stack_s_api_and_realtime_urls(served: str):
    reply = requests.get(served + "/config.json", timeout=5)
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("application/json")
    assert reply.json() == {"api_url": API_URL, "realtime_url": "ws://127.0.0.1:18001"}


@pytest.mark.parametrize("path", ["/nothing-here", "/js/nothing.js", "/package.json", "/package-lock.json",
                                  "/config.example.json", "/node_modules/hls.js/package.json", "/js/../../README.md",
                                  "/%2e%2e/README.md", "/js/%2e%2e/%2e%2e/app.py", "/js"])
def test_anything_else_is_404(served: str, path: str):
    assert requests.get(served + path, timeout=5).status_code == 404


def test_every_module_the_page_imports_is_served(served: str):
    """The page has no build step: a wrong import path would fail only in the browser."""
    import re

    web_dir = ROOT / "web"
    for module in (web_dir / "js").rglob("*.js"):
        for imported in re.findall(r'^import .* from "(\.[^"]+)";$', module.read_text(), re.M):
            target = (module.parent / imported).resolve().relative_to(web_dir)
            assert requests.get(f"{served}/{target.as_posix()}", timeout=5).status_code == 200, (module, imported)


def test_page_config_needs_the_api_url():
    with pytest.raises(SystemExit, match="PARLOR_API_URL"):
        web.page_config({})
    assert web.page_config({"PARLOR_API_URL": API_URL}) == {"api_url": API_URL}


def test_the_stack_serves_the_web_client_on_the_web_port_and_allows_its_origin(tmp_path: Path):
    ports = Ports(web=18080)
    (component,) = [c for c in components(ports) if c.name == "web"]
    assert component.argv[1:] == ["-m", "local.web", "--port", "18080"]
    assert component.ready_url == f"http://127.0.0.1:18080{web.HEALTH_PATH}"
    assert (component.port, component.port_env) == (18080, "PARLOR_WEB_PORT")
    free = Ports.free()
    assert free.web not in (free.api, free.ws, free.moto, free.stripe, free.turn, free.cdn)
    env = stack_env(ports, {}, {name: "x" for name in ("media_token_private_key", "media_token_public_key",
                                                      "jwt_secret", "service_secret", "stripe_api_key",
                                                      "stripe_webhook_secret", "turn_secret", "cdn_key_pair_id",
                                                      "cdn_private_key")})
    assert "http://127.0.0.1:18080" in env["PARLOR_CORS_ORIGINS"]
    assert web.page_config(env)["api_url"] == env["PARLOR_API_URL"]


def test_the_page_starts_in_chromium_without_errors_under_its_policy(served: str):
    """Every module loads and runs (a syntax error, a wrong import, a CSP violation would
    show here): signed out, the page asks to sign in. Where Chromium and Playwright are."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("no Chromium (apt-get install chromium)")
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium))
        try:
            page = browser.new_page()
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda message: message.type == "error" and problems.append(message.text))
            page.goto(served + "/#/spaces/anything")
            sync_api.expect(page.get_by_test_id("signin-submit")).to_be_visible()
            sync_api.expect(page.get_by_test_id("whoami")).to_be_hidden()
            assert page.evaluate("typeof window.Hls") == ("function" if (ROOT / "web/vendor/hls.min.js").exists()
                                                          else "undefined")
            page.get_by_test_id("signin-handle").fill("ada")
            page.get_by_test_id("signin-password").fill("a password")
            page.get_by_test_id("signin-submit").click()
            # Nothing listens at the configured API: the page says so in its error region.
            sync_api.expect(page.get_by_test_id("error")).to_have_attribute("data-code", "network_error")
        finally:
            browser.close()
    # The one expected failure: the API is not running (fetch's refused connection); and without
    # `make web`, hls.js is not vendored (a 404 for it, which `make test` prevents).
    expected = ("ERR_CONNECTION_REFUSED",) + (() if (ROOT / "web/vendor/hls.min.js").exists() else ("404 (Not Found)",))
    assert [p for p in problems if not any(e in p for e in expected)] == []


class _StubApi:
    """An API that answers ``/s/{id}`` as the real one does (tests/api/test_share_page.py)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                known = self.path == "/s/01KNOWN"
                body = b"<!doctype html><title>Jazz &amp; more</title>" if known else b"<!doctype html>not found"
                self.send_response(200 if known else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Cache-Control", "public, max-age=60" if known else "no-cache")
                self.send_header("Set-Cookie", "leak=1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture(scope="module")
def served_with_api() -> Iterator[str]:
    api = _StubApi()
    try:
        with _local_web(PARLOR_API_URL=api.url, PARLOR_REALTIME_URL="ws://127.0.0.1:18001") as base:
            yield base
    finally:
        api.server.shutdown()


def test_the_share_page_is_the_api_s_on_the_web_origin(served_with_api: str):
    page = requests.get(served_with_api + "/s/01KNOWN", timeout=5)
    assert page.status_code == 200 and page.text == "<!doctype html><title>Jazz &amp; more</title>"
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "public, max-age=60" and "Set-Cookie" not in page.headers
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    missing = requests.get(served_with_api + "/s/01UNKNOWN", timeout=5)
    assert missing.status_code == 404 and missing.text == "<!doctype html>not found"


def test_the_share_page_is_a_502_while_the_api_is_down(served: str):
    assert requests.get(served + "/s/01KNOWN", timeout=15).status_code == 502
