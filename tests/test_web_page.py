"""The page in headless Chromium (default suite, about ten seconds): undo/redo, the rectangle tool
under zoom, mask upload and download, methods greyed out, cancel, continue and the before/after
slider, several candidates side by side (the one clicked is the result), the face box tool.

The server runs in this process (werkzeug, a tiny random model); the browser is Debian's `chromium`
with `chromium-driver`, driven by Selenium (as in test_web_live.py). Nothing is installed here: without
them (or without Selenium) every test is skipped, saying what to install. All traffic is to 127.0.0.1.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import tempfile
import threading
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from seminpaint.settings import PRESETS
from seminpaint.web.app import WebConfig, create_app

from conftest import png, tiny_model, wave_photo

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1000", "--force-device-scale-factor=1"]


def photo(height, width):
    return wave_photo(height, width, frequencies=(7, 5))


def from_data_url(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


@pytest.fixture(scope="module")
def chromium():
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("Selenium is not installed (pip install selenium): the page's browser tests need it")
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        pytest.skip("headless Chromium is not available: apt-get install chromium chromium-driver "
                    "to run the page's browser tests")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tempfile.mkdtemp(prefix="seminpaint-chromium-")
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    try:
        browser = webdriver.Chrome(options=options, service=Service(driver))
    except WebDriverException as error:
        pytest.skip(f"headless Chromium could not be started: {str(error).splitlines()[0]}")
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    """The app on a free port of 127.0.0.1, in a thread; jobs may run up to a million steps (to cancel)."""
    samples = {"photo 128×96": photo(96, 128), "square 64×64": photo(64, 64)}
    yield from served_in_thread(create_app(tiny_model(), WebConfig(max_iterations=1_000_000, default_iterations=5),
                                           samples=samples))


def served_in_thread(app):
    """Serve `app` on a free port of 127.0.0.1 in a daemon thread; yields its address, then shuts it down."""
    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.port}"
    finally:
        httpd.shutdown()


class Page:
    """The page in the browser, and the few things the tests do with it."""

    def __init__(self, browser, url):
        from selenium.webdriver.support.ui import WebDriverWait

        self.browser, self.url = browser, url
        browser.get(url + "/")
        self.wait(lambda: self.body("data-ready") == "1")
        self.wait_for = WebDriverWait

    def wait(self, predicate, timeout=20.0):
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.browser, timeout, poll_frequency=0.02).until(lambda _: predicate())

    def body(self, name):
        return self.browser.execute_script(f"return document.body.getAttribute({name!r})")

    def js(self, script, *args):
        return self.browser.execute_script(script, *args)

    def el(self, element_id):
        from selenium.webdriver.common.by import By

        return self.browser.find_element(By.ID, element_id)

    def pick_sample(self, name):
        from selenium.webdriver.support.ui import Select

        before = self.body("data-image-loaded")
        Select(self.el("sample")).select_by_visible_text(name)
        self.wait(lambda: self.body("data-image-loaded") not in (None, before))

    def mask(self) -> np.ndarray:
        """The mask as the page would send it: bool (H, W), True = missing."""
        return from_data_url(self.js("return maskDataUrl().url"))[..., 0] > 127

    def box(self):
        return self.js("const b = document.getElementById('mask-canvas').getBoundingClientRect();"
                       "return [b.left, b.top, b.width, b.height];")

    def drag(self, start, end, *, alt=False):
        """Press at viewport point `start`, move to `end`, release (integers, CSS pixels)."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        if alt:  # held across the drag (input state lasts from one perform to the next)
            ActionChains(self.browser).key_down(Keys.ALT).perform()
        chain = ActionChains(self.browser, duration=0)
        chain.w3c_actions.pointer_action.move_to_location(*start).pointer_down() \
            .move_to_location((start[0] + end[0]) // 2, (start[1] + end[1]) // 2).move_to_location(*end).pointer_up()
        chain.perform()
        if alt:
            ActionChains(self.browser).key_up(Keys.ALT).perform()

    def keys(self, *combination):
        from selenium.webdriver.common.action_chains import ActionChains

        chain = ActionChains(self.browser)
        for key in combination[:-1]:
            chain.key_down(key)
        chain.send_keys(combination[-1])
        for key in reversed(combination[:-1]):
            chain.key_up(key)
        chain.perform()

    def tool(self, name):
        self.js(f"setTool({name!r})")


@pytest.fixture
def page(chromium, server):
    return Page(chromium, server)


def image_rectangle(box, start, end, width, height):
    """The image pixels the rectangle tool fills for a drag from `start` to `end` (as app.js maps them)."""
    left, top, shown_width, shown_height = box
    xs = [(p[0] - left) * width / shown_width for p in (start, end)]
    ys = [(p[1] - top) * height / shown_height for p in (start, end)]
    x0, y0 = max(0, int(np.floor(min(xs)))), max(0, int(np.floor(min(ys))))
    x1, y1 = min(width, int(np.ceil(max(xs)))), min(height, int(np.ceil(max(ys))))
    expected = np.zeros((height, width), dtype=bool)
    expected[y0:y1, x0:x1] = True
    return expected


def test_brush_undo_redo_with_buttons_and_keys(page):
    from selenium.webdriver.common.keys import Keys

    page.pick_sample("photo 128×96")
    assert page.el("undo").get_attribute("disabled") and page.el("redo").get_attribute("disabled")
    left, top, width, height = page.box()
    centre = (int(left + width / 2), int(top + height / 2))
    page.drag((centre[0] - 60, centre[1]), (centre[0] + 60, centre[1]))  # one brush stroke
    stroke = page.mask()
    assert 200 < stroke.sum() < stroke.size // 3 and page.body("data-undo") == "1"
    page.tool("rect")
    page.drag((int(left) + 10, int(top) + 10), (int(left) + 60, int(top) + 40))
    both = page.mask()
    assert page.body("data-undo") == "2" and both.sum() > stroke.sum()

    page.keys(Keys.CONTROL, "z")  # undo the rectangle
    assert np.array_equal(page.mask(), stroke) and page.body("data-redo") == "1"
    page.keys(Keys.CONTROL, "z")  # undo the stroke
    assert not page.mask().any() and page.body("data-undo") == "0"
    page.keys(Keys.CONTROL, Keys.SHIFT, "z")  # redo the stroke
    assert np.array_equal(page.mask(), stroke)
    page.keys(Keys.CONTROL, "y")  # redo the rectangle
    assert np.array_equal(page.mask(), both) and page.body("data-redo") == "0"
    page.el("undo").click()
    assert np.array_equal(page.mask(), stroke)
    page.el("redo").click()
    assert np.array_equal(page.mask(), both)
    page.el("clear").click()
    assert not page.mask().any()
    page.el("undo").click()  # clear is undone too
    assert np.array_equal(page.mask(), both)
    page.el("undo").click()
    page.tool("brush")
    page.drag((centre[0], centre[1] + 30), (centre[0] + 1, centre[1] + 30))  # a new edit drops the redo
    assert page.body("data-redo") == "0" and page.el("redo").get_attribute("disabled")
    page.el("iterations").click()  # in a number field, Ctrl+Z is the field's own
    page.keys(Keys.CONTROL, "z")
    assert page.body("data-undo") == "2"


def test_rectangle_tool_fills_the_dragged_pixels_when_zoomed_and_panned(page):
    page.pick_sample("photo 128×96")
    page.tool("rect")
    for _ in range(4):
        page.el("zoom-in").click()  # ×4
    assert float(page.body("data-zoom")) == pytest.approx(4.0)
    page.js("const v = document.getElementById('viewport'); v.scrollLeft = 300; v.scrollTop = 200;")
    box = page.box()
    assert box[2] == pytest.approx(4 * 512, abs=2)  # 128 pixels shown 16 display pixels each
    start, end = (int(box[0] + 320), int(box[1] + 220)), (int(box[0] + 517), int(box[1] + 333))
    page.drag(start, end)
    expected = image_rectangle(box, start, end, 128, 96)
    assert np.array_equal(page.mask(), expected)
    rows, columns = np.nonzero(expected)
    assert (rows.min(), columns.min(), rows.max(), columns.max()) == (13, 20, 20, 32)
    inner = (start[0] + 40, start[1] + 30), (start[0] + 90, start[1] + 70)
    page.drag(*inner, alt=True)  # Alt: the rectangle erases
    assert np.array_equal(page.mask(), expected & ~image_rectangle(box, *inner, 128, 96))
    page.el("zoom-fit").click()
    assert page.body("data-zoom") == "1" and page.box()[2] == pytest.approx(512, abs=2)


def test_wheel_zooms_at_the_pointer(page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

    page.pick_sample("photo 128×96")
    left, top, width, height = page.box()  # at zoom 1: 4 display pixels per image pixel
    pointer = (int(left + width / 2) + 100, int(top + height / 2) + 50)
    under = ((pointer[0] - left) * 128 / width, (pointer[1] - top) * 96 / height)
    ActionChains(page.browser).scroll_from_origin(ScrollOrigin.from_viewport(*pointer), 0, -100).perform()
    page.wait(lambda: float(page.body("data-zoom")) > 1)
    assert float(page.body("data-zoom")) == pytest.approx(1.2)
    left, top, width, height = page.box()
    assert width == pytest.approx(1.2 * 512, abs=1)
    # The image point under the pointer stays under it.
    assert (pointer[0] - left) * 128 / width == pytest.approx(under[0], abs=0.3)
    assert (pointer[1] - top) * 96 / height == pytest.approx(under[1], abs=0.3)
    ActionChains(page.browser).scroll_from_origin(ScrollOrigin.from_viewport(*pointer), 0, 100).perform()
    page.wait(lambda: float(page.body("data-zoom")) == 1)


def test_pan_tool_and_space_drag_move_the_zoomed_image(page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    page.pick_sample("photo 128×96")
    page.el("zoom-in").click()
    page.el("zoom-in").click()  # ×2: the viewport scrolls
    scroll = lambda: page.js("const v = document.getElementById('viewport'); return [v.scrollLeft, v.scrollTop];")  # noqa: E731
    start = scroll()
    left, top, width, height = page.box()
    page.tool("pan")
    view = page.js("const b = document.getElementById('viewport').getBoundingClientRect(); return [b.left, b.top];")
    grab = (int(view[0] + 300), int(view[1] + 200))
    page.drag(grab, (grab[0] - 80, grab[1] - 50))
    assert scroll() == [start[0] + 80, start[1] + 50] and not page.mask().any()
    page.tool("brush")
    hover = ActionChains(page.browser)
    hover.w3c_actions.pointer_action.move_to_location(*grab)
    hover.perform()
    ActionChains(page.browser).key_down(Keys.SPACE).perform()  # Space held over the image: pan
    page.drag(grab, (grab[0] + 30, grab[1] + 20))
    ActionChains(page.browser).key_up(Keys.SPACE).perform()
    assert scroll() == [start[0] + 50, start[1] + 30] and not page.mask().any() and page.body("data-undo") == "0"


def test_mask_upload_resized_nearest_and_mask_download(page, tmp_path):
    page.pick_sample("photo 128×96")
    rng = np.random.default_rng(1)
    for count, (width, height) in enumerate([(64, 48), (80, 60), (200, 150)], start=1):  # same aspect ratio
        small = (rng.random((height, width)) < 0.3).astype(np.uint8) * 255
        (tmp_path / f"mask{width}.png").write_bytes(png(small))
        page.el("mask-file").send_keys(str(tmp_path / f"mask{width}.png"))
        page.wait(lambda: page.body("data-undo") == str(count))
        expected = np.asarray(Image.fromarray(small).resize((128, 96), Image.Resampling.NEAREST)) > 127
        assert np.array_equal(page.mask(), expected), (width, height)  # as PIL's nearest resize
        assert f"({width}×{height}, resized to 128×96, nearest)" in page.el("status").text

    exact = np.zeros((96, 128, 4), np.uint8)  # the image's size, RGBA: transparent pixels are known
    exact[10:30, 40:90] = (255, 255, 255, 255)
    exact[50:60, 5:25] = (255, 255, 255, 0)
    (tmp_path / "exact.png").write_bytes(png(exact))
    page.el("mask-file").send_keys(str(tmp_path / "exact.png"))
    page.wait(lambda: page.body("data-undo") == "4")
    assert page.body("data-mask-loaded") == str(20 * 50)
    assert np.array_equal(page.mask(), exact[..., 3] * (exact[..., 0] > 127) > 0)

    (tmp_path / "square.png").write_bytes(png(np.zeros((100, 100), np.uint8)))
    page.el("mask-file").send_keys(str(tmp_path / "square.png"))
    page.wait(lambda: "aspect ratio" in page.el("status").text)
    assert "100×100 but the image is 128×96" in page.el("status").text
    assert page.body("data-undo") == "4"  # refused: the mask is as it was
    page.el("undo").click()
    assert np.array_equal(page.mask(), expected)

    page.browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    page.el("download-mask").click()
    page.wait(lambda: (tmp_path / "mask.png").is_file() and (tmp_path / "mask.png").stat().st_size > 0)
    time.sleep(0.2)
    saved = np.asarray(Image.open(tmp_path / "mask.png").convert("L"))
    assert saved.shape == (96, 128) and set(np.unique(saved)) <= {0, 255}
    assert np.array_equal(saved > 127, expected)


def test_methods_that_cannot_run_are_greyed_out_with_the_reason(page):
    disabled = lambda: page.js("return [...document.getElementById('method').options]"  # noqa: E731
                               ".filter(o => o.disabled).map(o => o.value)")
    page.pick_sample("square 64×64")
    assert "context_encoder" not in disabled()
    page.js("document.getElementById('method').value = 'context_encoder'")
    page.pick_sample("photo 128×96")
    assert "context_encoder" in disabled()
    assert page.el("method").get_attribute("value") == "ours"  # moved off the method that cannot run
    notes = page.el("method-notes").text
    assert "fills 64×64 images only; this one is 128×96" in notes
    assert "not for this image" in page.js("return document.querySelector('#method option[value=context_encoder]').textContent")


def request(url, method="GET"):
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as response:
        return response.status, response.read()


def test_cancel_a_running_search(page, server):
    page.pick_sample("photo 128×96")
    page.js("useMaskKind('center')")
    page.wait(lambda: page.body("data-undo") == "1")
    page.js("document.getElementById('iterations').value = '1000000'")
    page.el("go").click()
    try:
        page.wait(lambda: page.js("return state.job"))
        job = page.js("return state.job")
        page.wait(lambda: json.loads(request(f"{server}/api/jobs/{job}")[1])["step"] > 0)  # searching
        assert page.el("cancel").is_displayed()
        page.el("cancel").click()
        page.wait(lambda: page.body("data-cancelled-job") is not None)
    finally:  # never leave the shared worker busy for the next tests
        job = page.js("return state.job")
        if job and page.body("data-cancelled-job") is None:
            request(f"{server}/api/jobs/{job}/cancel", "POST")
    job = page.body("data-cancelled-job")
    assert page.el("status").text.startswith("Cancelled (cancelled at step ")
    assert not page.el("cancel").is_displayed() and page.el("go").is_enabled()
    status = json.loads(request(f"{server}/api/jobs/{job}")[1])
    assert status["state"] == "cancelled" and 0 < status["step"] < 1_000_000


def test_result_before_after_slider_and_continue_from_it(page, server):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    page.pick_sample("photo 128×96")
    sample = page.body("data-image-loaded")
    page.tool("rect")
    left, top, width, height = page.box()
    page.drag((int(left + 100), int(top + 80)), (int(left + 300), int(top + 250)))
    hole = page.mask()
    Select(page.el("method")).select_by_value("mean")
    page.el("go").click()
    page.wait(lambda: page.body("data-result-job") is not None)
    job = page.body("data-result-job")
    page.wait(lambda: page.js("return document.getElementById('result').naturalWidth") == 128)
    assert page.el("compare").is_displayed() and page.el("compare-slider").is_displayed()
    page.js("const s = document.getElementById('compare-slider'); s.value = '30';"
            "s.dispatchEvent(new Event('input'));")
    assert page.js("return document.getElementById('result').style.clipPath") == "inset(0px 0px 0px 30%)"
    compare = page.js("const b = document.getElementById('compare').getBoundingClientRect(); return [b.left, b.top, b.width, b.height];")
    page.drag((int(compare[0] + compare[2] * 0.75), int(compare[1] + 20)), (int(compare[0] + compare[2] * 0.75), int(compare[1] + 20)))
    assert float(page.el("compare-slider").get_attribute("value")) == pytest.approx(75, abs=1)
    before = from_data_url(page.js("return document.getElementById('before').toDataURL()"))
    assert before.shape[:2] == (96, 128) and (before[hole][:, 0] > before[hole][:, 1]).all()  # the hole in red

    page.el("continue").click()
    page.wait(lambda: page.body("data-continued-from") == job)
    page.wait(lambda: page.body("data-image-loaded") not in (None, sample))
    result = np.asarray(Image.open(io.BytesIO(request(f"{server}/api/jobs/{job}/result.png")[1])))
    shown = from_data_url(page.js("return document.getElementById('image-canvas').toDataURL()"))[..., :3]
    assert np.array_equal(shown, result)  # the result is the image now
    assert not page.mask().any() and page.body("data-undo") == "1"
    page.keys(Keys.CONTROL, "z")  # the last hole comes back, on the result
    assert np.array_equal(page.mask(), hole)
    page.el("go").click()  # and the result can be inpainted again
    page.wait(lambda: page.body("data-result-job") != job)
    second = page.body("data-result-job")
    assert json.loads(request(f"{server}/api/jobs/{second}")[1])["state"] == "done"


def draw_hole(page, start=(100, 80), end=(300, 250)):
    """A rectangle hole dragged from `start` to `end` (CSS pixels from the canvas's corner); its mask."""
    page.tool("rect")
    left, top, _, _ = page.box()
    page.drag((int(left + start[0]), int(top + start[1])), (int(left + end[0]), int(top + end[1])))
    return page.mask()


def test_candidates_side_by_side_and_the_one_clicked_is_the_result(page, server):
    page.pick_sample("photo 128×96")
    draw_hole(page)
    presets = page.js("return [...document.getElementById('preset').options].map(o => o.value)")
    assert presets == ["", *PRESETS]  # the server's settings (no preset for a model without encoder), then PRESETS
    page.js("document.getElementById('candidates').value = '3'")
    page.el("go").click()
    page.wait(lambda: page.body("data-result-job") is not None)
    job = page.body("data-result-job")
    status = json.loads(request(f"{server}/api/jobs/{job}")[1])
    assert status["candidates"] == 3 and len(status["completions"]) == 3
    buttons = page.browser.find_elements("css selector", "#thumbs button")
    assert [b.get_attribute("data-candidate") for b in buttons] == ["0", "1", "2", "3"]
    assert page.browser.find_element("css selector", "#thumbs .spread canvas").is_displayed()
    assert page.body("data-chosen") == "0" and "candidate=" not in page.el("result").get_attribute("src")
    buttons[2].click()  # candidate 2
    assert page.body("data-chosen") == "2" and buttons[2].get_attribute("aria-pressed") == "true"
    assert "candidate=2" in page.el("result").get_attribute("src")
    assert page.el("download").get_attribute("href").endswith(f"/api/jobs/{job}/result.png?candidate=2&download=1")
    assert page.el("shown-label").text == "— candidate 2 (mirrored)"  # the server's default mirrors
    page.el("continue").click()
    page.wait(lambda: page.body("data-continued-from") == job)
    page.wait(lambda: "candidate 2" in page.el("image-info").text)
    second = np.asarray(Image.open(io.BytesIO(request(f"{server}/api/jobs/{job}/result.png?candidate=2")[1])))
    shown = from_data_url(page.js("return document.getElementById('image-canvas').toDataURL()"))[..., :3]
    assert np.array_equal(shown, second)  # candidate 2 is the image now


def test_the_mirrored_preset_labels_the_candidate_that_searched_the_mirror_image(page):
    from selenium.webdriver.support.ui import Select

    page.pick_sample("photo 128×96")
    draw_hole(page)
    Select(page.el("preset")).select_by_value("mirrored")  # brings its 2 candidates
    assert page.el("candidates").get_attribute("value") == "2"
    page.js("document.getElementById('iterations').value = '3'")
    page.el("go").click()
    page.wait(lambda: page.body("data-result-job") is not None)
    captions = page.js("return [...document.querySelectorAll('#thumbs canvas')].map(c => c.getAttribute('aria-label'))")
    assert captions[1:3] == ["candidate 1", "candidate 2 (mirrored)"], captions
    page.browser.find_elements("css selector", "#thumbs button")[2].click()
    assert page.el("shown-label").text == "— candidate 2 (mirrored)"


def test_no_face_box_for_a_model_that_is_no_face_model(page):
    page.pick_sample("photo 128×96")
    assert not page.el("face-tool").find_element("css selector", "input").is_enabled()
    assert "no face model" in page.el("face-info").text


@pytest.fixture(scope="module")
def face_server():
    """As `server`, with the tiny model taken as a face model (holes framed around faces)."""
    from seminpaint.faces import SHIPPED

    model = tiny_model()
    model.faces = SHIPPED
    yield from served_in_thread(create_app(model, WebConfig(default_iterations=5),
                                           samples={"photo 128×96": photo(96, 128)}))


def test_face_box_drawn_sent_and_the_box_used_shown_and_no_face_refused_in_words(chromium, face_server):
    page = Page(chromium, face_server)
    page.pick_sample("photo 128×96")
    hole = draw_hole(page, (150, 120), (250, 200))
    page.el("go").click()  # no face in the waves, no box: the job fails with one line
    page.wait(lambda: page.body("data-failed-job") is not None)
    assert page.el("status").text.startswith("Inpainting failed: the hole touches no face found in the image")
    assert "face box tool" in page.el("status").text and page.el("go").is_enabled()

    page.tool("face")
    left, top, width, height = page.box()
    page.drag((int(left + 100), int(top + 60)), (int(left + 300), int(top + 260)))
    box = [int(v) for v in page.body("data-face").split(",")]
    assert page.el("face-box").is_displayed() and box[2] > 40 and box[3] > 40
    assert np.array_equal(page.mask(), hole)  # the face box is no part of the mask
    page.el("go").click()
    page.wait(lambda: page.body("data-result-job") is not None)
    status = json.loads(request(f"{face_server}/api/jobs/{page.body('data-result-job')}")[1])
    assert status["face"] == box
    assert page.el("used-face").is_displayed() and page.el("used-square").is_displayed()
    shown = page.js("const s = document.getElementById('used-face').style; return [s.left, s.top, s.width, s.height];")
    expected = [100 * box[0] / 128, 100 * box[1] / 96, 100 * box[2] / 128, 100 * box[3] / 96]
    assert np.allclose([float(v.rstrip("%")) for v in shown], expected)

    page.el("clear-face").click()
    page.el("no-face-check").click()
    page.el("go").click()
    page.wait(lambda: page.body("data-result-job") not in (None, status["job"]))
    unchecked = json.loads(request(f"{face_server}/api/jobs/{page.body('data-result-job')}")[1])
    assert unchecked["state"] == "done" and unchecked["face"] is None
    assert not page.el("used-face").is_displayed() and page.el("used-square").is_displayed()
