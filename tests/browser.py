"""Headless Chromium for the browser tests (Debian's chromium and chromium-driver, driven by Selenium).

Where the browser is missing the tests skip with the reason, except with CI=true, where they must run.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser_or_skip() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (os.path.exists(p) or shutil.which(Path(p).name))]
    if missing:
        problem = f"no {' or '.join(missing)}; install Debian's chromium and chromium-driver"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem} (CI=true requires the browser test to run)")
        pytest.skip(problem)


def headless_chromium(profile: Path) -> Iterator[Any]:
    """A Selenium driver of a fresh headless Chromium with its own profile directory, quit afterwards."""
    browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--window-size=1280,900", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def until(check: Callable[[], Any], what: str, seconds: float = 20) -> Any:
    """``check()``'s first true answer, asked until it comes (pages and servers answer in their own time)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
