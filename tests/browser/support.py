"""What the browser tests share: the phone, the watch on the browser's errors, signing in."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

# A phone: an iPhone 12-14 sized screen, in Chinese.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}
# Generous: the machine is slow and shared; expect() returns as soon as the page is right.
TIMEOUT_MS = 30_000
PASSWORD = "Liudong@2026!"
# Runs before the page's own scripts on every page load. Playwright injects it outside the
# page's Content Security Policy, so it runs even where inline scripts are refused; it marks
# the page so a test can check that it did. A violation is reported through the console,
# which the Watch below collects across page loads.
WATCH_SCRIPT = """
window.__portalWatching = true;
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`securitypolicyviolation: ${event.effectiveDirective} refused `
    + `${event.blockedURI || "inline"} (${event.sourceFile || "?"}:${event.lineNumber})`);
});
"""


class Watch:
    """What went wrong in the browser: console errors (CSP violations among them), uncaught
    exceptions, failed requests and error responses."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")

    def _failed(self, request) -> None:
        # Aborted: cancelled by the browser, as when a page is left while a poll is under way
        # or a link turns out to be a download. Anything else is a problem.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"request failed: {request.url} {request.failure}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def assert_clean(self) -> None:
        """Nothing went wrong so far, and the watcher runs on the page now shown."""
        assert self.page.evaluate("window.__portalWatching === true"), "watch script not running"
        assert not self.problems, "the browser reported:\n" + "\n".join(self.problems)


def sign_in(page: Page, live_server, user) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("用户名").fill(user.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="首页")).to_be_visible()


def expect_unfolded(page: Page, selector: str) -> None:
    """Wait for a Bootstrap collapse to finish opening: it gets "show" once its animation has
    ended. Clicking inside it while it still moves may be lost on a busy machine."""
    expect(page.locator(selector)).to_have_class(re.compile(r"(^|\s)show(\s|$)"))


def assert_fits_phone(page: Page) -> None:
    """Nothing sticks out sideways: the page scrolls only up and down on a phone."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["viewport"]["width"], f"page is {width}px wide"
