"""Screenshots of the web page for docs/web.md, taken in headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) against the shipped face model, served in this process on
127.0.0.1.

    python scripts/web_screenshots.py [--out docs/results/web] [--iterations 300]

Writes page.png (a finished result, the before/after slider at the middle of the hole, a method greyed
out with its reason) and editing.png (the hole panel zoomed in while a rectangle is dragged).
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/results/web"))
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--sample", default="astronaut face (160×160)")
    args = parser.parse_args()

    import torch
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    from werkzeug.serving import make_server

    from seminpaint.api import resolve_model
    from seminpaint.web.app import WebConfig, create_app

    torch.manual_seed(0)
    app = create_app(resolve_model(None, "cpu"), WebConfig())
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.port}/"

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    profile = tempfile.mkdtemp(prefix="seminpaint-chromium-")
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
                 "--window-size=1240,1500", "--force-device-scale-factor=1", f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    body = lambda name: browser.execute_script(f"return document.body.getAttribute({name!r})")  # noqa: E731
    wait = lambda predicate, timeout=300: WebDriverWait(browser, timeout, 0.05).until(lambda _: predicate())  # noqa: E731
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        browser.get(url)
        wait(lambda: body("data-ready") == "1")
        Select(browser.find_element(By.ID, "sample")).select_by_visible_text(args.sample)
        wait(lambda: body("data-image-loaded"))
        box = browser.execute_script("const b = document.getElementById('mask-canvas').getBoundingClientRect();"
                                     "return [b.left, b.top, b.width, b.height];")

        def drag(x0, y0, x1, y1, *, release=True):  # fractions of the shown image
            chain = ActionChains(browser, duration=0)
            pointer = chain.w3c_actions.pointer_action
            pointer.move_to_location(int(box[0] + x0 * box[2]), int(box[1] + y0 * box[3])).pointer_down()
            pointer.move_to_location(int(box[0] + x1 * box[2]), int(box[1] + y1 * box[3]))
            if release:
                pointer.pointer_up()
            chain.perform()

        browser.execute_script("setTool('rect')")
        drag(0.30, 0.30, 0.70, 0.50)  # the eyes
        browser.execute_script("setTool('brush')")
        drag(0.40, 0.72, 0.60, 0.72)  # and a stroke over the mouth
        iterations = browser.find_element(By.ID, "iterations")
        iterations.clear()
        iterations.send_keys(str(args.iterations))
        browser.find_element(By.ID, "go").click()
        wait(lambda: body("data-result-job") or body("data-failed-job"))
        if not body("data-result-job"):
            raise SystemExit(browser.find_element(By.ID, "status").text)
        wait(lambda: browser.execute_script("return document.getElementById('result').naturalWidth") > 0)
        browser.execute_script("const s = document.getElementById('compare-slider'); s.value = '50';"
                               "s.dispatchEvent(new Event('input'));")
        time.sleep(0.3)
        height = browser.execute_script("return document.getElementById('result-box').getBoundingClientRect().bottom + 12")
        shot(browser, args.out / "page.png", crop={"x": 0, "y": 0, "width": 1240, "height": height})

        browser.execute_script("document.getElementById('zoom-in').click(); document.getElementById('zoom-in').click();"
                               "const v = document.getElementById('viewport'); v.scrollLeft = 130; v.scrollTop = 180;")
        box = browser.execute_script("const b = document.getElementById('mask-canvas').getBoundingClientRect();"
                                     "return [b.left, b.top, b.width, b.height];")
        browser.execute_script("setTool('rect')")
        drag(0.36, 0.56, 0.52, 0.66, release=False)  # a rectangle being dragged, shown dashed
        time.sleep(0.2)
        panel = browser.find_element(By.ID, "input-panel").rect
        bottom = browser.find_element(By.ID, "viewport").rect
        shot(browser, args.out / "editing.png", crop={"x": panel["x"] - 8, "y": panel["y"], "width": panel["width"] + 16,
                                                      "height": bottom["y"] + bottom["height"] + 12 - panel["y"]})
        ActionChains(browser).release().perform()
    finally:
        browser.quit()
        httpd.shutdown()
        shutil.rmtree(profile, ignore_errors=True)


def shot(browser, path: Path, crop: dict | None = None) -> None:
    """Save a screenshot (optionally cropped to an element's rect), as a palette PNG to keep it small."""
    image = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    if crop:
        image = image.crop((int(crop["x"]), int(crop["y"]), int(crop["x"] + crop["width"]),
                            int(crop["y"] + crop["height"])))
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB, {image.width}×{image.height})")


if __name__ == "__main__":
    main()
