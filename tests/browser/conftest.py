"""Real Chromium against the local stack (``make test-browser``; ``make test`` leaves them out).

One stack per session, with the web client; one Chromium per fake-microphone tone (the tone is
a browser-wide flag), a context per person (own storage), every page measurable (measure.js).
Figures the tests measure are printed at the end of the run (``record``)."""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from local.stack import Stack
from tests.browser import harness
from tests.e2e.conftest import running_stack
from tests.e2e.http import Http

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "browser-password-1"
_FIGURES: list[str] = []


def record(line: str) -> None:
    """A measured figure, printed in the terminal summary."""
    _FIGURES.append(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("measured in the browser")
        for line in _FIGURES:
            terminalreporter.write_line(line)


# -- the browsers ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not harness.chromium_path():
        pytest.fail("Chromium is missing: `make test-browser` installs Debian's (as root), or run: sudo apt-get install -y chromium")
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)  # realtime updates reach other pages in well under that
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def tones(tmp_path_factory: pytest.TempPathFactory) -> Callable[[float], Path]:
    folder = tmp_path_factory.mktemp("tones")
    made: dict[float, Path] = {}

    def wav(freq: float) -> Path:
        if freq not in made:
            made[freq] = harness.tone_wav(folder / f"tone-{freq:g}.wav", freq)
        return made[freq]

    return wav


@pytest.fixture(scope="session")
def browsers(playwright: Any, tones: Callable[[float], Path]) -> Iterator[Callable[[float], Any]]:
    """The Chromium whose fake microphone plays ``freq`` Hz (launched on first use)."""
    launched: dict[float, Any] = {}

    def browser(freq: float) -> Any:
        if freq not in launched:
            launched[freq] = harness.launch(playwright, tones(freq))
        return launched[freq]

    yield browser
    for running in launched.values():
        running.close()


# -- a tiny page server for the harness's own tests --------------------------------------------

@pytest.fixture(scope="session")
def static_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``(base_url, folder)``: what is written into ``folder`` is served at ``base_url``."""
    folder = tmp_path_factory.mktemp("site")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()


# -- the stack with the web client -------------------------------------------------------------

@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Anyone may host; the second listener of a room already goes to HLS.
    for running in running_stack(tmp_path_factory, "browser", PARLOR_HOST_MIN_FOLLOWERS="0", PARLOR_WEBRTC_LISTENER_CAP="1"):
        record(f"(the stack's logs: {running.log_dir})")
        yield running


@pytest.fixture(scope="session")
def web_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.ports.web}"


@pytest.fixture(scope="session")
def api(stack: Stack) -> Api:
    return Api(f"http://127.0.0.1:{stack.ports.api}")


class Api(Http):
    """The REST API, for the set-up a scenario is not about and for facts the UI does not show."""

    def sign_in(self, handle: str) -> dict[str, Any]:
        """``{"id", "token"}`` of someone who signed up (through the UI) with ``PASSWORD``."""
        status, body = self.call("POST", "/v1/sessions", {"handle": handle, "password": PASSWORD})
        assert status in (200, 201), body
        return {"id": body["user"]["id"], "token": body["token"]}

    def sign_up(self, handle: str) -> dict[str, Any]:
        status, body = self.call("POST", "/v1/accounts", {"handle": handle, "display_name": handle, "password": PASSWORD})
        assert status == 201, body
        return {"id": body["user"]["id"], "token": body["token"]}


def space_id_in(url: str) -> str:
    found = re.search(r"#/spaces/([^/?&#]+)", url)
    assert found, f"not a space's page: {url}"
    return found.group(1)


def user_id_in(href: str) -> str:
    found = re.search(r"#/users/([^/?&#]+)", href)
    assert found, f"not a profile link: {href}"
    return found.group(1)


# -- people ------------------------------------------------------------------------------------

@dataclass
class Person:
    handle: str
    context: Any
    page: Any
    web_url: str

    def by(self, testid: str) -> Any:
        return self.page.get_by_test_id(testid)

    def go(self, route: str) -> None:
        self.page.goto(f"{self.web_url}/{route}")

    def sign_up(self) -> None:
        """Through the UI; signed in afterwards (``whoami`` shows the handle)."""
        from playwright.sync_api import expect

        self.go("#/signup")
        self.by("signup-handle").fill(self.handle)
        self.by("signup-name").fill(self.handle.replace("_", " ").title())
        self.by("signup-password").fill(PASSWORD)
        self.by("signup-submit").click()
        expect(self.by("whoami")).to_contain_text(f"@{self.handle}", timeout=15_000)

    def create_space(self, title: str) -> str:
        """A live space (scheduled: empty = now) through the create page; its id."""
        self.by("nav-create").click()
        self.by("create-title").fill(title)
        self.by("create-submit").click()
        self.page.wait_for_url(re.compile(r".*#/spaces/[^/?]+"), timeout=20_000)
        return space_id_in(self.page.url)

    def open_space(self, space_id: str) -> None:
        self.go(f"#/spaces/{space_id}")
        from playwright.sync_api import expect

        expect(self.by("space-title")).to_be_visible()

    def join(self, transport: str = "webrtc") -> None:
        """Join the open (live) space and wait until its audio is on the given transport."""
        from playwright.sync_api import expect

        self.by("join").click()
        expect(self.by("leave")).to_be_visible(timeout=40_000)  # the first join starts the room's media worker
        expect(self.by("transport")).to_have_text(transport, timeout=20_000)

    def unmute(self) -> None:
        from playwright.sync_api import expect

        toggle = self.by("mic-toggle")
        expect(toggle).to_be_visible(timeout=20_000)
        if toggle.get_attribute("data-muted") == "true":
            toggle.click()
        expect(toggle).to_have_attribute("data-muted", "false")

    def participant(self, user_id: str) -> Any:
        return self.page.locator(f'[data-testid="participant"][data-user-id="{user_id}"]')

    def act_on(self, user_id: str, action: str) -> None:
        """A host/co-host action (``remove``, ``invite``, ...) from a participant's menu."""
        self.participant(user_id).get_by_test_id(action).click()

    def say(self, text: str, to: str = "") -> None:
        """A chat message (to everyone, or directly to the user id ``to``), shown in one's own page.
        Chat allows one message a second per person: a refused one is sent again after that."""
        from playwright.sync_api import expect

        self.by("chat-to").select_option(to)
        for attempt in range(2):
            self.by("chat-input").fill(text)
            self.by("chat-send").click()
            try:
                expect(self.by("chat-message").filter(has_text=text)).to_have_count(1, timeout=5_000)
                return
            except AssertionError:
                shown = self.by("error").locator("visible=true")
                if attempt or not shown.count() or shown.first.get_attribute("data-code") != "rate_limited":
                    raise
                self.page.wait_for_timeout(1_100)

    def no_error(self) -> None:
        """No error is shown (else fail with its code and message)."""
        shown = self.by("error").locator("visible=true")
        if shown.count():
            raise AssertionError(f"{self.handle}'s page shows an error: {shown.first.get_attribute('data-code')!r} "
                                 f"{shown.first.inner_text()!r}")

    def tone(self, freq: float) -> float:
        return harness.tone(self.page, freq)

    def stats(self) -> dict[str, Any]:
        return harness.stats(self.page)

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


@pytest.fixture
def people(browsers: Callable[[float], Any], web_url: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., Person]]:
    """``person(handle, voice=440, width=None)``: someone with their own browser context whose
    microphone plays ``voice`` Hz; ``width`` sets a phone-sized viewport. Handles get a
    per-test suffix so tests never collide in the session's stack."""
    opened: list[Any] = []
    suffix = f"{abs(hash(request.node.nodeid)) % 10_000:04d}"

    def person(handle: str, voice: float = 440, width: int | None = None) -> Person:
        options = {"viewport": {"width": width, "height": 844}} if width else {"viewport": {"width": 1280, "height": 900}}
        context = harness.new_context(browsers(voice), **options)
        opened.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("dialog", lambda dialog: dialog.accept())  # "End this space for everyone?" and the like
        return Person(f"{handle}_{suffix}", context, page, web_url)

    yield person
    for context in opened:
        context.close()
