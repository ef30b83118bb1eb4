"""The demo used as a newcomer uses it, in headless Chromium driven by Selenium: open the page, draw a digit
with no tool picked first, press nothing, and wait for the answer, which comes as the digit is drawn.

    .venv/bin/python tests/demo_browser.py docs/demo.png     # the README's screenshot, after the answer came

Needs Debian's `chromium` and `chromium-driver` (apt-get install chromium chromium-driver).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
MISSING = "needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
# A 7: a stroke along the top, then down to the left (offsets from the canvas centre, in CSS pixels).
SEVEN = [(-70, -90), (0, -90), (70, -90), (40, -20), (10, 50), (-15, 110)]


def browser_available() -> bool:
    return all(Path(path).is_file() for path in (CHROMIUM, CHROMEDRIVER)) and shutil.which("chromium") is not None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def demo_server(port: int, timeout_s: float = 120):
    """`python -m mnist_study.demo` on a loopback port, stopped whatever happens."""
    server = subprocess.Popen([sys.executable, "-m", "mnist_study.demo", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the demo did not start on port {port}") from None
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 1000):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver, url: str):
    """Open the demo and wait for its canvas; the canvas element."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    canvas = WebDriverWait(driver, 60).until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "#sketch canvas")))
    time.sleep(1)  # the editor's own start-up, as a person takes a moment before drawing
    return canvas


def draw(driver, canvas, points) -> float:
    """One stroke through `points` (offsets from the canvas centre); the monotonic time the pen lifted."""
    from selenium.webdriver.common.action_chains import ActionChains

    stroke = ActionChains(driver).move_to_element_with_offset(canvas, *points[0]).click_and_hold()
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        stroke = stroke.move_by_offset(x1 - x0, y1 - y0)
    stroke.release().perform()
    return time.monotonic()


def _seen_source(page) -> str | None:
    from selenium.webdriver.common.by import By

    found = page.find_elements(By.CSS_SELECTOR, "#seen img")
    return found[0].get_attribute("src") if found else None


def wait_for_answer(driver, since: float, previous_seen: str | None = None, timeout_s: float = 60) -> dict:
    """Wait, pressing nothing, until the page shows a top class and a model input other than `previous_seen`;
    what it shows, and the seconds from `since` (the pen lifted) to the answer."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout_s, poll_frequency=0.05).until(
        lambda page: page.find_elements(By.CSS_SELECTOR, "#top-classes .output-class")
        and _seen_source(page) not in (None, previous_seen))
    seconds = time.monotonic() - since
    images = {name: driver.find_element(By.CSS_SELECTOR, f"#{name} img") for name in ("seen", "grad-cam")}
    WebDriverWait(driver, 30).until(lambda page: all(image.get_attribute("complete") == "true"
                                                     and image.get_property("naturalWidth") > 0
                                                     for image in images.values()))
    return {"top_class": driver.find_element(By.CSS_SELECTOR, "#top-classes .output-class").text.strip(),
            "seconds": seconds, "message": driver.find_element(By.ID, "message").text,
            "seen_source": _seen_source(driver),
            "images": {name: image.screenshot_as_png for name, image in images.items()}}


def draw_and_wait(driver, url: str, points=SEVEN, answer_timeout_s: float = 60) -> dict:
    """Open the page, draw `points` at once (no tool picked), press nothing; what the page shows."""
    canvas = open_page(driver, url)
    return wait_for_answer(driver, draw(driver, canvas, points), timeout_s=answer_timeout_s)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    if not browser_available():
        print(f"demo_browser: {MISSING}", file=sys.stderr)
        return 1
    with demo_server(free_port()) as url, chromium() as driver:
        shown = draw_and_wait(driver, url)
        time.sleep(0.5)
        driver.save_screenshot(argv[0])
    print(f"{argv[0]}: read as {shown['top_class']} in {shown['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
