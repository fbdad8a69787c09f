"""Screenshots of the web page for docs/web.md, taken in headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) against the shipped face model, served in this process on
127.0.0.1 (the app behind the same BoundedServer as `seminpaint serve`).

    python scripts/web_screenshots.py [--out docs/results/web] [--candidates 4] [--pick 2]

The flow a user takes: pick the astronaut sample (512 × 512), drag a rectangle over her eyes and a
brush stroke over her mouth, run ours with 4 candidates (the server's preset otherwise), click
candidate 2. Writes page.png (the whole page: the face box the model found and the square it saw
drawn on the image, the four candidates and their mean and spread side by side, candidate 2 in the
before/after view), candidates.png (the result panel alone) and editing.png (the hole panel zoomed
in while a rectangle is dragged).
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


EYES = (0.37, 0.175, 0.52, 0.225)  # fractions of the shown image: a rectangle over the astronaut's eyes
MOUTH = (0.42, 0.285, 0.50, 0.285)  # and a brush stroke over her mouth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/results/web"))
    parser.add_argument("--iterations", type=int, help="Adam steps (default: the server's preset's)")
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--pick", type=int, default=2, help="the candidate clicked")
    parser.add_argument("--sample", default="astronaut (512×512)")
    args = parser.parse_args()

    import torch
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from seminpaint.api import resolve_model
    from seminpaint.web.app import WebConfig, create_app, make_server

    torch.manual_seed(0)
    config = WebConfig()
    httpd = make_server(create_app(resolve_model(None, "cpu"), config), config, host="127.0.0.1", port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.port}/"

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    profile = tempfile.mkdtemp(prefix="seminpaint-chromium-")
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
                 "--window-size=1240,1900", "--force-device-scale-factor=1", f"--user-data-dir={profile}"]:
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
        drag(*EYES)
        browser.execute_script("setTool('brush')")
        drag(*MOUTH)
        for field, value in (("iterations", args.iterations), ("candidates", args.candidates)):
            if value is not None:
                element = browser.find_element(By.ID, field)
                element.clear()
                element.send_keys(str(value))
        browser.find_element(By.ID, "go").click()
        wait(lambda: body("data-result-job") or body("data-failed-job"))
        if not body("data-result-job"):
            raise SystemExit(browser.find_element(By.ID, "status").text)
        buttons = browser.find_elements(By.CSS_SELECTOR, "#thumbs button")
        if len(buttons) > args.pick:
            buttons[args.pick].click()  # button 0 is the mean
        wait(lambda: browser.execute_script(
            "return document.getElementById('result').naturalWidth > 0 && "
            "[...document.querySelectorAll('#thumbs canvas')].every(c => c.dataset.loaded)"))
        browser.execute_script("const s = document.getElementById('compare-slider'); s.value = '50';"
                               "s.dispatchEvent(new Event('input'));")
        time.sleep(0.3)
        height = browser.execute_script("return document.getElementById('result-box').getBoundingClientRect().bottom + 12")
        shot(browser, args.out / "page.png", crop={"x": 0, "y": 0, "width": 1240, "height": height})
        panel = browser.find_element(By.ID, "result-box").rect
        shot(browser, args.out / "candidates.png", crop={"x": panel["x"] - 8, "y": panel["y"] - 4,
                                                         "width": panel["width"] + 16, "height": panel["height"] + 12})

        browser.execute_script("document.getElementById('zoom-in').click(); document.getElementById('zoom-in').click();"
                               "const v = document.getElementById('viewport'); v.scrollLeft = 250; v.scrollTop = 80;")
        box = browser.execute_script("const b = document.getElementById('mask-canvas').getBoundingClientRect();"
                                     "return [b.left, b.top, b.width, b.height];")
        browser.execute_script("setTool('rect')")
        drag(0.40, 0.30, 0.50, 0.34, release=False)  # a rectangle being dragged, shown dashed
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
