"""End to end in a real browser: a live `pageviews run` and its dashboard, in headless Chromium.

Chromium comes from Debian's package (/usr/bin/chromium), which .ci/run installs; Playwright
drives it. A missing browser is a failure, not a skip.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from helpers import REPO

CHROMIUM = "/usr/bin/chromium"
KPI = '[data-testid="stMetricValue"]'
# Short windows, so complete windows appear within seconds of a live run.
SHORT_WINDOWS = [
    "--tumbling", "10s", "--country-window", "10s", "--hop-size", "10s", "--hop-step", "5s",
    "--lateness", "2s", "--session-gap", "3s", "--user-session-gap", "30s",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our localhost page
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout_s:.0f} s")


def _page_views_kpi(page: Page) -> int:
    text = page.locator(KPI).first.inner_text()
    return int(re.sub(r"[^\d]", "", text))


def test_live_dashboard_in_chromium(tmp_path: Path) -> None:
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)"
    )
    port = _free_port()
    run = subprocess.Popen(
        [sys.executable, "-m", "pageviews.cli", "run", "--rate", "2000", "--quiet",
         "--data-dir", str(tmp_path / "data"), "--dashboard-port", str(port), "--refresh", "3",
         *SHORT_WINDOWS],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", timeout_s=90)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--headless", "--disable-gpu",
                      "--disable-background-networking"],
            )  # fmt: skip
            page = browser.new_page(viewport={"width": 1500, "height": 2200})
            page.goto(f"http://127.0.0.1:{port}")
            page.wait_for_selector(KPI, timeout=90_000)
            # Vega-Lite draws each chart into a canvas or an svg inside the chart element.
            page.wait_for_selector(
                '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg',
                timeout=60_000,
            )
            first = _page_views_kpi(page)
            assert first > 0
            changed = first
            deadline = time.monotonic() + 60
            while changed == first and time.monotonic() < deadline:
                time.sleep(1)
                changed = _page_views_kpi(page)
            output = REPO / "test-output"
            output.mkdir(exist_ok=True)
            page.screenshot(path=str(output / "dashboard.png"), full_page=True)
            browser.close()
        assert changed != first, "the page-view KPI did not change after refreshes"
        assert changed > 0
        assert (output / "dashboard.png").stat().st_size > 10_000
    finally:
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr.decode()
    assert b"run the same command to resume" in stderr
