"""The status page at / in a real browser: headless Chromium driven by Selenium (Debian's chromium,
chromium-driver and python3-selenium). The page must say the server is ready, list the model, and
its upload box must run an image through the detection model and draw the result."""
import re
import shutil
import tempfile

import pytest

from test_serve_cli import MODEL, NAME, Server, planted, png, scene

webdriver = pytest.importorskip("selenium.webdriver", reason="python3-selenium not installed")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM or not DRIVER:
        pytest.skip("chromium and chromium-driver not installed (scripts/setup.sh installs them)")
    options = Options()
    options.binary_location = CHROMIUM
    # Headless, as root in CI (no sandbox), and without /dev/shm (a bare chroot may lack it).
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="tiledet_chromium_")
    options.add_argument("--user-data-dir=" + profile)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def test_status_page_shows_ready_and_its_upload_box_draws_the_detections(browser, tmp_path):
    server = Server("-m", MODEL)
    try:
        browser.get(server.url("/"))
        wait = WebDriverWait(browser, 60)
        assert browser.title == "tiledet serve"
        wait.until(lambda d: d.find_element(By.ID, "ready").text == "ready")
        wait.until(lambda d: NAME in d.find_element(By.ID, "models").text)
        options = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#model option")]
        assert NAME in options
        # The upload box: a PNG whose planted objects the generated model reports.
        image = tmp_path / "scene.png"
        image.write_bytes(png(scene()))
        Select(browser.find_element(By.ID, "model")).select_by_value(NAME)
        browser.find_element(By.ID, "file").send_keys(str(image))
        expected = len(planted())
        wait.until(lambda d: "detections" in d.find_element(By.ID, "result").text or d.find_element(By.ID, "err").text)
        assert browser.find_element(By.ID, "err").text == ""
        assert browser.find_element(By.ID, "result").text == f"{expected} detections in 1 tile(s)"
        canvas = browser.find_element(By.ID, "canvas")
        assert (canvas.get_attribute("width"), canvas.get_attribute("height")) == ("320", "320")
        # The boxes are drawn: canvas pixels in the page's stroke colour #e33 (the scene holds only
        # 0 and 255 values, so none of them comes from the image).
        stroked = browser.execute_script(
            "const c=document.getElementById('canvas');const d=c.getContext('2d').getImageData(0,0,c.width,c.height).data;"
            "let n=0;for(let i=0;i<d.length;i+=4)n+=(d[i]==238&&d[i+1]==51&&d[i+2]==51);return n;")
        assert stroked > 4 * expected, f"{stroked} pixels in the box colour for {expected} boxes"
        # The page's numbers come from /status.json: the request just made is counted.
        browser.refresh()
        wait.until(lambda d: re.match(r"[1-9]\d* requests", d.find_element(By.ID, "minute").text))
    finally:
        server.stop()
