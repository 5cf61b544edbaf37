"""What the browser tests drive Chromium with: Debian's chromium (Playwright cannot download its
own browsers here), a fake microphone playing a generated tone, and an init script
(measure.js) that lets a test ask any page how strongly it receives or plays a frequency."""

from __future__ import annotations

import math
import os
import shutil
import struct
import time
import wave
from pathlib import Path
from typing import Any, Callable, TypeVar

MEASURE_JS = (Path(__file__).parent / "measure.js").read_text()
SAMPLE_RATE = 48_000
T = TypeVar("T")


def chromium_path() -> str | None:
    """Debian's chromium (``make test-browser`` installs it), or ``PARLOR_CHROMIUM``."""
    return os.environ.get("PARLOR_CHROMIUM") or shutil.which("chromium") or None


def tone_wav(path: Path, freq: float, seconds: int = 10, amplitude: float = 0.5) -> Path:
    """A 48 kHz mono 16-bit WAV of a sine at ``freq`` (a whole number of cycles: Chromium loops it)."""
    frames = SAMPLE_RATE * seconds
    peak = int(amplitude * 32767)
    data = b"".join(struct.pack("<h", round(peak * math.sin(2 * math.pi * freq * i / SAMPLE_RATE))) for i in range(frames))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(data)
    return path


def chromium_args(microphone_wav: Path) -> list[str]:
    """Headless WebRTC on this machine (docs: LOCAL-STACK.md, "Real clients"): a fake
    microphone playing ``microphone_wav``, permission granted, audio that plays unprompted."""
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone_wav}", "--allow-loopback-in-peer-connection",
            "--autoplay-policy=no-user-gesture-required"]


def launch(playwright: Any, microphone_wav: Path) -> Any:
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=chromium_args(microphone_wav))


def new_context(browser: Any, **options: Any) -> Any:
    """A person's own context (storage, cookies), every page of it measurable."""
    context = browser.new_context(**options)
    context.add_init_script(MEASURE_JS)
    return context


def tone(page: Any, freq: float) -> float:
    return float(page.evaluate("f => window.__parlorTone(f)", freq))


def stats(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("() => window.__parlorStats()"))


def eventually(read: Callable[[], T], ok: Callable[[T], bool], timeout: float, what: str, every: float = 0.1) -> T:
    """Read until ``ok``; fail after ``timeout`` seconds with the last reading."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s (last reading: {value!r})")
        time.sleep(every)


def hears(page: Any, freq: float, timeout: float, threshold: float = 0.3) -> float:
    """Wait until the page receives ``freq`` clearly (its share of the power above ``threshold``)."""
    return eventually(lambda: tone(page, freq), lambda s: s >= threshold, timeout, f"{page.url} hears {freq:g} Hz")


def goes_quiet(page: Any, freq: float, timeout: float, threshold: float = 0.05) -> float:
    """Wait until ``freq`` is gone from the page, steadily (three readings in a row)."""
    quiet = 0

    def read() -> float:
        nonlocal quiet
        value = tone(page, freq)
        quiet = quiet + 1 if value < threshold else 0
        return value

    return eventually(read, lambda _: quiet >= 3, timeout, f"{page.url} stops hearing {freq:g} Hz", every=0.2)
