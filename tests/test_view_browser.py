"""The live view in a real browser: Debian's chromium driven by Playwright, WebGL in software (SwiftShader).

One server and one browser for the module, on the small scan tunnel. The page must load and draw (pixels, not
only the DOM); an edit typed into the panel must reach the USD configuration layer and change the labels' colours
on screen; a save made from the page, reopened, must give the same view state bit for bit. chromium missing is a
failure, not a skip: CI installs it (.ci/run).
"""

from __future__ import annotations

import io
import shutil
import socket
import time

import numpy as np
import pytest
from device import DEVICE
from PIL import Image
from saved_layers import layer_text

import swb
from swb.view import LiveView
from swb.view.poses import matrix

CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"]
VIEWPORT = {"width": 960, "height": 600}
PANEL_LEFT = 620  # the panel sits on the right: pixels left of this are the 3-D canvas


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it): the live "
                    "view must be tested in a real browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    scene = folder / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), scene)
    sim = swb.open(scene, device=DEVICE)
    view = LiveView(sim, port=free_port(), save_dir=folder, log=lambda m: None)
    yield view
    view.close()


@pytest.fixture(scope="module")
def page(browser, live):
    pg = browser.new_page(viewport=VIEWPORT)
    pg.goto(live.url)
    pg.wait_for_selector("text=coverage", timeout=90_000)
    _steady(pg)
    yield pg
    pg.close()


def _settle(pg, ms: int = 1500) -> None:
    pg.wait_for_timeout(ms)  # let the software renderer draw the frames the updates asked for


def _steady(pg, timeout: float = 60.0) -> None:
    """Wait until the page has faded in and drawn: two screenshots a moment apart are the same."""
    end = time.monotonic() + timeout
    last = _canvas(pg)
    while time.monotonic() < end:
        pg.wait_for_timeout(700)
        now = _canvas(pg)
        if np.array_equal(now, last) and (now < 245).any():
            return
        last = now
    raise AssertionError("the page did not settle")


def _canvas(pg) -> np.ndarray:
    """The 3-D canvas part of a screenshot, RGB."""
    img = np.asarray(Image.open(io.BytesIO(pg.screenshot())).convert("RGB")).astype(np.int16)
    return img[:, :PANEL_LEFT]


def _input(pg, label: str):
    """The input on the panel row a label names."""
    return pg.locator(f'xpath=//label[normalize-space(.)="{label}"]'
                      '/ancestor::div[contains(@class, "mantine-Flex-root")][1]//input').first


def _wait_for(check, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the view")
        time.sleep(0.05)


def test_the_page_loads_and_draws_the_station(page, live):
    assert page.locator("canvas").count() >= 1
    img = _canvas(page)
    background = np.all(img >= 245, axis=-1)
    drawn = 1.0 - background.mean()
    colours = len(np.unique(img.reshape(-1, 3) // 8, axis=0))
    assert drawn > 0.05, f"only {100 * drawn:.1f} % of the canvas is drawn"
    assert colours > 40, f"only {colours} colours on the canvas"
    text = page.inner_text("body")
    assert f"{100 * live.sim.results.coverage():.2f} %" in text


def test_an_edit_in_the_panel_changes_the_config_layer_and_the_label_colours(page, live):
    sim = live.sim
    cam = live.active
    before_colours = np.array(live._labels.batched_colors)
    before = _canvas(page)
    n_edits = live.edits_applied
    field = _input(page, "exposure (ms)")
    field.fill("30")
    field.press("Enter")
    _wait_for(lambda: live.edits_applied > n_edits)  # never read the stage while the view's worker authors
    live.flush()
    with live.lock:  # the page may still send events: read the stage while the view's worker waits
        assert sim.config_layer.GetAttributeAtPath(f"{cam}.exposure:time").default == pytest.approx(0.03)
        assert sim.scene.cameras[[c.path for c in sim.scene.cameras].index(cam)].exposure == pytest.approx(0.03)
    after_colours = np.array(live._labels.batched_colors)
    changed_labels = np.any(after_colours != before_colours, axis=1)
    assert changed_labels.any(), "a 30 ms exposure must change some label's verdict (motion blur)"
    _steady(page)
    after = _canvas(page)
    changed = np.any(np.abs(after - before) > 24, axis=-1)
    assert changed.sum() > 30, f"only {int(changed.sum())} canvas pixels changed"
    # the changed pixels are on the labels: their new colours are the ones the server pushed
    pushed = {tuple(int(v) // 16 for v in c) for c in after_colours[changed_labels]}
    seen = {tuple(int(v) // 16 for v in px) for px in after[changed]}
    assert pushed & seen or len(seen) > 1


def test_dragging_the_gizmo_moves_the_camera_in_the_config_layer(page, live, tmp_path):
    """A real mouse drag on the gizmo's X arrow (found by projecting it with the browser's own camera)."""
    sim = live.sim
    cam_i = [c.path for c in sim.scene.cameras].index(live.active)
    start = np.asarray(sim.scene.cameras[cam_i].position, np.float64)
    n, n_edits = len(live.timings), live.edits_applied
    client = next(iter(live.server.get_clients().values()))
    rot, eye = matrix(client.camera.wxyz), np.asarray(client.camera.position, np.float64)
    height = VIEWPORT["height"]
    focal = 0.5 * height / np.tan(0.5 * client.camera.fov)

    def screen(x: np.ndarray) -> tuple[float, float]:
        c = rot.T @ (x - eye)  # OpenCV camera frame: +Z forward, +Y down
        return 0.5 * VIEWPORT["width"] + focal * c[0] / c[2], 0.5 * height + focal * c[1] / c[2]

    gizmo = np.asarray(live._gizmo.position, np.float64)
    axis = matrix(live._gizmo.wxyz)[:, 0]
    u, v = screen(gizmo + 0.8 * live._gizmo_scale * axis)
    page.mouse.move(u, v)
    page.mouse.down()
    page.mouse.move(u + 40, v + 4, steps=8)
    page.mouse.up()
    _wait_for(lambda: live.edits_applied > n_edits)
    live.flush()
    flat = tmp_path / "dragged.usda"
    with live.lock:
        assert sim.config_layer.GetAttributeAtPath(f"{live.active}.xformOp:transform") is not None
        moved = np.asarray(sim.scene.cameras[cam_i].position, np.float64)
        sim.stage.Export(str(flat))
        pairs = sim.results.pairs.copy()
    assert np.linalg.norm(moved - start) > 0.01, "the drag moved the camera"
    assert len(live.timings) > n, "updates were pushed while dragging"
    assert pairs.equal(swb.open(flat, device=DEVICE).evaluate().pairs)


def test_a_save_from_the_page_comes_back_exactly(page, browser, live, tmp_path):
    box = page.locator("canvas").first.bounding_box()
    x, y = box["x"] + 0.35 * PANEL_LEFT, box["y"] + 0.5 * box["height"]
    pose_before = live._viewer_pose
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y + 25, steps=6)  # orbit the view: the browser reports its new camera
    page.mouse.up()
    _wait_for(lambda: live._viewer_pose != pose_before)
    _settle(page, 500)
    live.select_label(live.sim.scene.targets[4].path)
    name = _input(page, "file")
    name.fill("from_page.swb.usda")
    name.press("Enter")
    page.get_by_role("button", name="save", exact=True).click()
    page.wait_for_selector("text=saved from_page.swb.usda", timeout=30_000)  # the panel says where it went
    root = live.save_dir / "from_page.swb.usda"
    assert root.exists() and layer_text(root, "ui")
    left = live.sim.ui

    again = swb.restore(root, device=DEVICE)
    view = LiveView(again, port=free_port(), save_dir=tmp_path, log=lambda m: None)
    pg = browser.new_page(viewport=VIEWPORT)
    try:
        pg.goto(view.url)
        pg.wait_for_selector("text=coverage", timeout=90_000)
        _steady(pg)
        assert again.ui == left
        assert view.active == left.active_camera and view.selection == left.selection
        clients = list(view.server.get_clients().values())
        assert clients, "the page is connected"
        pos, _ = view.axes.viewer_from_stage(left.viewer_camera_transform)
        np.testing.assert_allclose(clients[0].camera.position, pos, atol=1e-4)  # the browser shows the saved pose
        view.save("round_trip.swb.usda")
        for role in ("ui", "config"):
            assert layer_text(root, role) == layer_text(tmp_path / "round_trip.swb.usda", role), \
                f"the {role} layer changed on the way through the browser"
        with live.lock:
            assert again.results.pairs.equal(live.sim.results.pairs)
    finally:
        pg.close()
        view.close()
