"""The digits page end to end in a real headless Chromium, against the real uvicorn server.

Skipped when Playwright or /usr/bin/chromium is missing. With ``FFNN_UPDATE_SCREENSHOT=1``
the screenshot of the trained page also goes to docs/images/digits.png (README and docs).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

DOCS_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "images" / "digits.png"
ACCURACY_SECONDS = 60.0      # the requirement: 90% validation accuracy within a minute


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.errors = errors
    pg.goto(server_url + "digits")
    pg.wait_for_selector("body[data-ready='1']", timeout=60_000)
    yield pg
    context.close()
    assert not errors, f"errors on the page: {errors}"


def percent(page, selector: str) -> float:
    text = page.inner_text(selector).rstrip("%")
    return float(text) if text not in ("", "–") else 0.0


def draw(page, points: list[tuple[float, float]]) -> None:
    """One stroke through ``points`` (fractions of the canvas) with mouse events."""
    box = page.locator("#draw").bounding_box()
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def predicted_after(page, points) -> str:
    page.click("#clear")
    page.wait_for_function("document.getElementById('prediction').textContent === '–'")
    draw(page, points)
    page.wait_for_function("document.body.dataset.shown && document.body.dataset.shown === document.body.dataset.asked")
    return page.inner_text("#prediction")


def test_default_network_learns_then_reads_drawn_digits(page, tmp_path, capsys):
    assert page.input_value("#optimizer") == "adadelta"
    assert "num_neurons:32" in page.input_value("#network")
    page.click("#play")
    started = time.monotonic()
    page.wait_for_function("document.getElementById('s-val').textContent.endsWith('%') && "
                           "parseFloat(document.getElementById('s-val').textContent) >= 90",
                           timeout=ACCURACY_SECONDS * 1000 * 2)
    seconds = time.monotonic() - started
    with capsys.disabled():
        print(f"\ndigits page: 90% validation accuracy after {seconds:.1f} s "
              f"({page.inner_text('#s-seen')} examples)")
    assert seconds <= ACCURACY_SECONDS, f"90% validation accuracy took {seconds:.1f} s"
    page.wait_for_timeout(2000)
    page.click("#play")
    page.wait_for_function("document.getElementById('play').textContent === 'Train'")

    # the views are drawn: every layer, 32 weight images, 40 test images, a 10x10 confusion matrix
    assert page.locator(".layer").count() == 5          # input, Linear, ReLU, Linear, softmax
    assert page.locator("#weights canvas").count() == 32
    assert page.locator("#grid .cell").count() == 40
    assert page.locator("#confusion td").count() == 100
    assert page.locator("#grid .right").count() >= 30   # the true class is in the top 3
    assert "ms" not in page.inner_text("#s-forward") and "µs" in page.inner_text("#s-forward")
    assert "--epochs" in page.inner_text("#command")

    one = [(0.5, 0.12), (0.5, 0.5), (0.5, 0.88)]
    zero = [(0.5, 0.15), (0.3, 0.25), (0.25, 0.5), (0.3, 0.75), (0.5, 0.85), (0.7, 0.75),
            (0.75, 0.5), (0.7, 0.25), (0.5, 0.15)]
    assert predicted_after(page, one) == "1"
    assert predicted_after(page, zero) == "0"

    shot = tmp_path / "digits.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    if os.environ.get("FFNN_UPDATE_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


def test_conv_layer_gets_the_clear_message(page):
    assert page.get_attribute("a.other", "href") == "/"          # back to the 2-D page
    text = page.input_value("#network").replace(
        "layer_defs.push({type:'fc', num_neurons:32, activation:'relu'});",
        "layer_defs.push({type:'conv', sx:5, filters:8, stride:1, pad:2, activation:'relu'});")
    page.fill("#network", text)
    page.click("#change-network")
    page.wait_for_selector("#error:not(.hidden)")
    assert "ffnn is fully connected: replace it with fc" in page.inner_text("#error-text")
    assert "type:'conv'" in page.input_value("#network")      # the text stays, to be fixed
    assert "--hidden 32" in page.inner_text("#command")        # the running network is unchanged
    # the browser logs the refused request itself (400) as a console error: that one is expected
    page.errors[:] = [e for e in page.errors if "status of 400" not in e]


def test_change_network_live_fields_save_and_load(page, tmp_path):
    text = page.input_value("#network").replace("num_neurons:32, activation:'relu'",
                                                "num_neurons:20, activation:'tanh'")
    page.fill("#network", text.replace("out_sx:24, out_sy:24", "out_sx:28, out_sy:28"))
    page.click("#change-network")
    page.wait_for_function("document.getElementById('command').textContent.includes('--hidden 20')")
    assert "--activation tanh" in page.inner_text("#command")
    assert page.is_disabled("#augment")                      # whole 28x28 images: no crops
    assert page.inner_text("#s-params") == f"{784 * 20 + 20 + 20 * 10 + 10:,}"
    page.fill("#batch_size", "50")
    page.press("#batch_size", "Enter")
    page.wait_for_function("document.getElementById('command').textContent.includes('--batch-size 50')")
    page.select_option("#optimizer", "momentum")
    page.wait_for_function("document.getElementById('command').textContent.includes('--optimizer momentum')")
    assert not page.is_disabled("#momentum")
    page.click("#step")
    page.wait_for_function("document.getElementById('s-seen').textContent.includes('epoch 1')")

    with page.expect_download() as download:
        page.click("#export")
    saved = tmp_path / "digits.ffnn"
    download.value.save_as(saved)
    from ffnn import load
    model = load(saved)
    assert model.in_features == 784 and model.metadata["config"]["batch_size"] == 50

    page.click("#reset")
    page.wait_for_function("document.getElementById('s-seen').textContent.includes('epoch 0')")
    page.fill("#network", page.input_value("#network").replace("num_neurons:20", "num_neurons:8"))
    page.click("#change-network")
    page.wait_for_function("document.getElementById('command').textContent.includes('--hidden 8')")
    page.set_input_files("#load", str(saved))
    page.wait_for_function("document.getElementById('command').textContent.includes('--hidden 20')")
    assert page.input_value("#batch_size") == "50"
