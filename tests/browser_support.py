"""Helpers for browser tests: a live uvicorn server in the test's event loop, Debian's
Chromium driven by Playwright (with a fake camera), and a directory for artifacts.

Without Chromium (or Playwright) the browser tests skip, unless KIZUNA_REQUIRE_BROWSER=1
makes them fail instead (CI machines that must run them set it).
"""

import asyncio
import contextlib
import importlib.util
import os
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from starlette.types import ASGIApp

from api.cli import WS_MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, ViewportSize

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
PHONE_WIDTH, PHONE_HEIGHT = 390, 844  # an iPhone 14's CSS pixels
DESKTOP_WIDTH, DESKTOP_HEIGHT = 1440, 900  # a laptop's
SERVER_START_TIMEOUT_SECONDS = 30.0


def require_browser() -> None:
    """Skip the calling test when Chromium or Playwright is missing (fail when
    KIZUNA_REQUIRE_BROWSER=1)."""
    missing = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (apt package `chromium`)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the `playwright` Python package (dev dependency group)")
    if not missing:
        return
    reason = "browser test needs " + " and ".join(missing)
    if os.environ.get("KIZUNA_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " — KIZUNA_REQUIRE_BROWSER=1 is set")
    pytest.skip(reason)


def artifacts_dir() -> Path:
    """Where browser tests keep screenshots: $KIZUNA_TEST_ARTIFACTS or ./test-artifacts."""
    configured = os.environ.get("KIZUNA_TEST_ARTIFACTS")
    directory = Path(configured) if configured else REPO_ROOT / "test-artifacts"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def chromium_args(fake_video: Path | None) -> list[str]:
    """Headless-friendly flags; the camera is Chromium's fake device, allowed without a
    prompt, playing `fake_video` (a .y4m clip) or its built-in test pattern."""
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
    ]
    if fake_video is not None:
        args.append(f"--use-file-for-fake-video-capture={fake_video}")
    return args


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to pytest."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class LiveServer:
    url: str


@contextlib.asynccontextmanager
async def live_server(app: ASGIApp) -> AsyncIterator[LiveServer]:
    """Serve `app` (lifespan included) on a free 127.0.0.1 port in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, timeout_graceful_shutdown=5,
        ws="websockets-sansio", ws_max_size=WS_MAX_MESSAGE_BYTES,  # as `kizuna serve` runs it
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(SERVER_START_TIMEOUT_SECONDS):
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped the start-up
                    raise RuntimeError("the server stopped during start-up")
                await asyncio.sleep(0.02)
        yield LiveServer(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=15)
        sock.close()


# Runs before the page's own scripts (DevTools-injected, so the page's CSP allows it).
_RECORD_VIOLATIONS = """
window.__kizunaViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__kizunaViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@dataclass
class PageProblems:
    """Uncaught errors and CSP / Trusted Types violations a page reported."""

    messages: list[str] = field(default_factory=list)

    def watch(self, page: "Page") -> None:
        page.on("pageerror", lambda error: self.messages.append(f"page error: {error}"))
        page.on("console", self._console)

    async def all(self, page: "Page") -> list[str]:
        """Everything reported so far, with the policy violations the page saw (even those
        whose exception a script caught)."""
        violations = await page.evaluate("() => window.__kizunaViolations ?? []")
        return self.messages + [f"policy violation: {item}" for item in violations]

    def _console(self, message: object) -> None:
        text = str(getattr(message, "text", ""))
        kind = str(getattr(message, "type", ""))
        policy = re.search(r"Content Security Policy|Trusted Type|Refused to", text, re.I)
        if kind == "error" and (policy or "Uncaught" in text):
            self.messages.append(f"console: {text}")


def _desktop_viewport() -> "ViewportSize":
    return {"width": DESKTOP_WIDTH, "height": DESKTOP_HEIGHT}


@contextlib.asynccontextmanager
async def desktop_page(
    browser: "Browser", base_url: str, *, screenshot_on_failure: str
) -> AsyncIterator[tuple["Page", PageProblems]]:
    """A page in a fresh laptop-sized context; on failure a screenshot is kept as
    `<screenshot_on_failure>.png` in the artifacts directory."""
    context = await browser.new_context(
        base_url=base_url, viewport=_desktop_viewport(), locale="en-GB",
        timezone_id="Europe/Paris",
    )
    await context.add_init_script(_RECORD_VIOLATIONS)
    context.set_default_timeout(15_000)
    page = await context.new_page()
    problems = PageProblems()
    problems.watch(page)
    try:
        yield page, problems
    except BaseException:
        with contextlib.suppress(Exception):
            path = artifacts_dir() / f"{screenshot_on_failure}.png"
            await page.screenshot(path=str(path))
        raise
    finally:
        await context.close()


def _phone_viewport() -> "ViewportSize":
    return {"width": PHONE_WIDTH, "height": PHONE_HEIGHT}


@contextlib.asynccontextmanager
async def phone_page(
    browser: "Browser", base_url: str, *, screenshot_on_failure: str
) -> AsyncIterator[tuple["Page", PageProblems]]:
    """A page in a fresh phone-sized context; on failure a screenshot is kept as
    `<screenshot_on_failure>.png` in the artifacts directory."""
    context = await browser.new_context(
        base_url=base_url, viewport=_phone_viewport(), device_scale_factor=2, is_mobile=True,
        has_touch=True, locale="en-GB", timezone_id="Europe/Paris",
    )
    await context.grant_permissions(["camera"], origin=base_url)
    await context.add_init_script(_RECORD_VIOLATIONS)
    context.set_default_timeout(15_000)
    page = await context.new_page()
    problems = PageProblems()
    problems.watch(page)
    try:
        yield page, problems
    except BaseException:
        with contextlib.suppress(Exception):
            path = artifacts_dir() / f"{screenshot_on_failure}.png"
            await page.screenshot(path=str(path), full_page=True)
        raise
    finally:
        await context.close()


@contextlib.asynccontextmanager
async def chromium(fake_video: Path | None) -> AsyncIterator["Browser"]:
    """Debian's Chromium, headless, with a fake camera."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=chromium_args(fake_video)
        )
        try:
            yield browser
        finally:
            await browser.close()
