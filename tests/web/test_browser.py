"""The capture page in a real headless Chromium with a fake camera playing a still photo (a print attack).

Drives Debian's chromium through its chromedriver (never Selenium Manager downloads): clicks Start, waits
for the decision, checks the decision and every test's status on the page, and checks a screenshot.
Skips with the reason when the browser is not installed (scripts/install-browser.sh installs it).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from gateway import config as gateway_config
from tests.web.conftest import write_y4m

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Phone-sized viewport (CSS px at device scale 1), so the screenshot also checks the responsive layout.
WIDTH, HEIGHT = 412, 915
RESULT_TIMEOUT_S = 45.0

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        f"{CHROMIUM} and {CHROMEDRIVER} are needed (scripts/install-browser.sh installs Debian's chromium)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path: Path, astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("SE_OFFLINE", "true")  # never let Selenium Manager reach the network
    video = write_y4m(tmp_path / "camera.y4m", astronaut)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={WIDTH},{HEIGHT}",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(flag)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=os.devnull)
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_window_size(WIDTH, HEIGHT)
        yield driver
    finally:
        driver.quit()


def capture(browser: Any, url: str) -> tuple[str, dict[str, str]]:
    """Run the page once; check what every run must show; return the decision and each test's status."""
    browser.get(url)
    start = browser.find_element(By.ID, "start")
    assert start.accessible_name == "Start check"
    start.click()

    WebDriverWait(browser, RESULT_TIMEOUT_S).until(
        lambda d: (
            d.find_element(By.ID, "result").is_displayed() or d.find_element(By.ID, "error").is_displayed()
        )
    )
    error = browser.find_element(By.ID, "error")
    assert not error.is_displayed(), f"page error: {error.text}"

    result = browser.find_element(By.ID, "result")
    decision = result.get_attribute("data-decision")
    # A still photo cannot follow the flash colours nor the challenge: never live.
    assert decision in ("spoof", "uncertain")
    assert browser.find_element(By.ID, "decision").text.lower() == decision
    rows = {
        row.get_attribute("data-test"): (row.get_attribute("data-status"), row.text)
        for row in browser.find_elements(By.CSS_SELECTOR, "#tests tbody tr")
    }
    assert rows and all(text.split()[1:] for _, text in rows.values()), "a test row without a status"
    checks = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#session-checks li")]
    assert checks[0].startswith("Challenge:") and checks[1].startswith("Flash colours:")
    assert browser.find_element(By.ID, "status").text.startswith(f"Result: {decision}")
    # Keyboard users land on the result.
    assert browser.switch_to.active_element.get_attribute("id") == "result-heading"
    assert browser.find_element(By.ID, "flash").is_displayed() is False

    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    pixels = np.asarray(shot)
    assert shot.size[0] == WIDTH and shot.size[1] > HEIGHT // 2
    assert pixels.std() > 20, "blank screenshot"
    # The decision badge is in view and painted with its decision's background colour.
    badge = browser.find_element(By.ID, "decision").rect
    x0, y0 = int(badge["x"]), int(badge["y"])
    x1, y1 = int(badge["x"] + badge["width"]), int(badge["y"] + badge["height"])
    assert 0 <= x0 < x1 <= shot.size[0] and 0 <= y0 < y1 <= shot.size[1], f"badge {badge} off screen"
    expected = {"spoof": (0xFC, 0xE8, 0xE6), "uncertain": (0xFE, 0xF7, 0xE0)}[decision]
    region = pixels[y0:y1, x0:x1].reshape(-1, 3).astype(int)
    share = (np.abs(region - expected).max(axis=1) <= 6).mean()
    assert share > 0.3, f"decision badge colour covers {share:.0%} of its box"
    # Nothing overflows the phone-width viewport.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= WIDTH
    return decision, {name: status for name, (status, _) in rows.items()}


def test_capture_page_shows_a_decision_for_a_still_photo(browser: Any, web_url: str) -> None:
    decision, statuses = capture(browser, web_url)
    assert statuses == {"frame": "ok", "clip": "ok"}
    table = browser.find_element(By.ID, "tests").text
    assert "35%" in table and "45%" in table  # the doubles' scores
    # Reduced motion (emulated): the page says so before starting, and the flash fades between colours.
    assert not browser.find_element(By.ID, "motion-note").is_displayed()
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-reduced-motion", "value": "reduce"}]}
    )
    browser.get(web_url)
    assert browser.find_element(By.ID, "motion-note").is_displayed()
    fade = browser.execute_script("return getComputedStyle(document.getElementById('flash')).transition")
    assert "background-color" in fade


@pytest.mark.slow
def test_capture_page_against_the_real_local_stack(browser: Any, real_web_url: str) -> None:
    """`liveness web` starting its own stack (the packaged gateway config and its trained tests)."""
    decision, statuses = capture(browser, real_web_url)
    configured = {t.name for t in gateway_config.load(None).tests}
    expected = dict.fromkeys(configured, "ok")
    # The fake camera plays one still photo: the head never turns, so voxel3d has no 3-D structure to
    # measure and says so (LOW_QUALITY) instead of guessing; every other test scores the clip.
    expected["voxel3d"] = "low_quality"
    assert statuses == expected
