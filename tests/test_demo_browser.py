"""The demo in a real browser, as a newcomer meets it: a digit drawn at once, with no tool picked, gets an answer
and a Grad-CAM map that is not flat."""

import io

import numpy as np
import pytest
from demo_browser import MISSING, browser_available, chromium, demo_server, draw_and_classify, free_port
from PIL import Image

pytestmark = pytest.mark.skipif(not browser_available(), reason=MISSING)


def test_a_digit_drawn_at_first_stroke_is_classified_with_a_grad_cam_map():
    with demo_server(free_port()) as url, chromium() as driver:
        shown = draw_and_classify(driver, url, answer_timeout_s=60)
    assert shown["top_class"] == "7" and shown["seconds"] < 60
    assert shown["message"].strip() == ""  # no complaint: the drawing arrived
    cam = np.asarray(Image.open(io.BytesIO(shown["images"]["grad-cam"])).convert("L"), dtype=float)
    seen = np.asarray(Image.open(io.BytesIO(shown["images"]["seen"])).convert("L"), dtype=float)
    assert seen.std() > 30  # the 28x28 input: white strokes on black
    assert cam.std() > 10, "the Grad-CAM panel is uniform"
