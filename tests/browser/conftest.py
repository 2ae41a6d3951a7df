"""A real browser for the end-to-end tests: Debian's Chromium driven by Playwright, on a phone.

The portal is served by pytest-django's live server (static files included, from static/);
Playwright never downloads a browser of its own. Without Chromium the tests are skipped.
"""

from __future__ import annotations

import os
import shutil

import pytest
from playwright.sync_api import expect, sync_playwright

from branches.tests.factories import make_tree
from portal.choices import Role
from portal.tests.factories import make_user

from .support import PASSWORD, PHONE, TIMEOUT_MS, WATCH_SCRIPT, Watch

# Where Chromium is: PORTAL_CHROMIUM, or Debian's package (`apt-get install chromium`).
CHROMIUM = os.environ.get("PORTAL_CHROMIUM") or "/usr/bin/chromium"

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="package")
def browser():
    """One Chromium for the browser tests; each test gets a fresh context (cookies, storage)."""
    executable = shutil.which(CHROMIUM)
    if executable is None:
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium, or set PORTAL_CHROMIUM")
    # Playwright's synchronous API keeps an asyncio loop running on this thread, and Django
    # refuses database calls from a thread with a running loop. The tests' own database calls
    # are plain synchronous ones; the live server answers from its own thread, unaffected.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=executable)
            yield launched
            launched.close()


@pytest.fixture
def page(browser):
    """A page on a phone, with the watch script on every page load."""
    context = browser.new_context(**PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(WATCH_SCRIPT)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def watch(page):
    return Watch(page)


@pytest.fixture
def tree(db):
    return make_tree()


@pytest.fixture
def county_admin(tree):
    """A county organization department's administrator: sees, reveals and imports."""
    return make_user(
        Role.COUNTY_ADMIN, tree["root"], username="zhangwei", password=PASSWORD, first_name="张伟"
    )
