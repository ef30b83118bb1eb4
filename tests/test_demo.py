"""The demo's prediction function on real test digits and bad input, then the real server over HTTP."""

import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import free_local_port
from PIL import Image

from mnist_study.app import demo
from mnist_study.app.demo import NO_INPUT, classify_drawing, load_model, predict_image
from mnist_study.app.predict import MODEL_DIR, best_model

DEFAULT_MODEL = best_model("mnist")  # notebook 06's final

SERVER_START_TIMEOUT_S = 120


@pytest.fixture(scope="module", autouse=True)
def committed_model():
    if not (MODEL_DIR / f"mnist_{DEFAULT_MODEL}.keras").is_file():
        pytest.fail(f"{MODEL_DIR}/mnist_{DEFAULT_MODEL}.keras missing: run 'make all' first")


def _drawing(digit: np.ndarray) -> Image.Image:
    """A test digit as a browser canvas exports it: black strokes, alpha = ink, transparent elsewhere."""
    alpha = np.asarray(Image.fromarray(digit).resize((336, 336), Image.Resampling.BICUBIC))
    rgba = np.zeros((*alpha.shape, 4), dtype=np.uint8)
    rgba[..., 3] = alpha
    return Image.fromarray(rgba, mode="RGBA")


def test_drawn_test_digits_get_their_labels(mnist):
    for index in (0, 1, 2, 4):
        prediction = predict_image(_drawing(mnist.test_images[index]), "mnist", DEFAULT_MODEL)
        assert prediction.message == ""
        assert next(iter(prediction.top)) == str(mnist.test_labels[index])  # the top class comes first
        assert len(prediction.top) == 3 and sum(prediction.top.values()) <= 1 + 1e-6
        assert prediction.seen.shape == (28, 28) and prediction.seen.dtype == np.uint8
        assert prediction.grad_cam.shape == (28, 28, 3)  # the default model is a CNN


def test_the_sketchpad_value_is_unpacked_and_shown_enlarged(mnist):
    message, seen, top, cam = classify_drawing({"composite": _drawing(mnist.test_images[0]), "layers": []},
                                               "mnist", DEFAULT_MODEL)
    assert message == "" and max(top, key=top.get) == "7"
    assert seen.shape == (demo.DISPLAY_SIDE, demo.DISPLAY_SIDE) and cam.shape == (demo.DISPLAY_SIDE,) * 2 + (3,)


def test_fashion_items_and_models_without_convolutions(fashion_mnist):
    fashion = fashion_mnist
    image = Image.fromarray(255 - fashion.test_images[0])  # dark item on white, as photographed
    prediction = predict_image(image, "fashion_mnist", best_model("fashion_mnist"))
    assert next(iter(prediction.top)) == fashion.class_names[fashion.test_labels[0]]
    feedforward = predict_image(image.convert("L"), "mnist", "feedforward")
    assert feedforward.message == "" and feedforward.grad_cam is None  # nothing to inspect


@pytest.mark.parametrize(("image", "message"), [
    (None, NO_INPUT),
    (Image.new("RGBA", (336, 336), (0, 0, 0, 0)), "Cannot classify this image: blank image"),  # an empty canvas
    (Image.new("L", (300, 200), 230), "Cannot classify this image: blank image"),  # a photo of blank paper
])
def test_blank_or_missing_input_gets_a_message(image, message):
    prediction = predict_image(image, "mnist", DEFAULT_MODEL)
    assert prediction.message.startswith(message) and prediction.seen is None and prediction.top == {}


def test_unreadable_uploads_and_unknown_models_get_a_message(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    assert predict_image(str(tmp_path / "notes.png"), "mnist", DEFAULT_MODEL).message == \
        "Cannot classify this image: not an image in a format Pillow can read."
    image = Image.new("L", (28, 28))
    image.putpixel((14, 14), 255)
    assert "resnet" in predict_image(image, "mnist", "resnet").message


def test_each_model_is_loaded_once():
    load_model.cache_clear()
    first = load_model("mnist", DEFAULT_MODEL)
    assert load_model("mnist", DEFAULT_MODEL) is first
    assert load_model.cache_info().hits == 1 and load_model.cache_info().misses == 1


@pytest.fixture(scope="module")
def server_url():
    """`python -m mnist_study.demo` on a free loopback port, for this module's tests; stopped after them."""
    port = free_local_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "TF_CPP_MIN_LOG_LEVEL": "2"}
    server = subprocess.Popen([sys.executable, "-m", "mnist_study.demo", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the demo did not start on port {port}: {server.stderr.read()[-2000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stderr.close()


def test_the_server_answers_over_http(mnist, tmp_path, server_url):
    from gradio_client import Client, handle_file

    digit = tmp_path / "digit.png"
    Image.fromarray(255 - mnist.test_images[1]).resize((112, 112)).save(digit)  # a 2, dark on white
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    client = Client(server_url, verbose=False)
    message, seen, top, cam = client.predict(handle_file(digit), "mnist", DEFAULT_MODEL, api_name="/classify_upload")
    assert message == "" and top["label"] == "2" and len(top["confidences"]) == 3
    assert Image.open(seen).size == (demo.DISPLAY_SIDE, demo.DISPLAY_SIDE) and cam is not None
    message, seen, top, cam = client.predict(handle_file(blank), "mnist", DEFAULT_MODEL, api_name="/classify_upload")
    assert message.startswith("Cannot classify this image: blank image") and seen is None
    # After a bad request the app keeps serving.
    assert client.predict(handle_file(digit), "mnist", DEFAULT_MODEL, api_name="/classify_upload")[2]["label"] == "2"


CONCURRENT_CLIENTS = 24


def test_two_dozen_clients_drawing_at_once_each_get_their_answer(mnist, tmp_path, server_url):
    """Each client sends its drawing twice in a row, as strokes arrive; every one gets its own digit back, and
    the server still answers afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client, handle_file

    indices = list(range(CONCURRENT_CLIENTS))
    paths = {}
    for index in indices:
        paths[index] = tmp_path / f"drawing{index}.png"
        _drawing(mnist.test_images[index]).save(paths[index])
    # What the pure prediction function says of each drawing: the server must say the same to its client.
    expected = {index: next(iter(predict_image(_drawing(mnist.test_images[index]), "mnist", DEFAULT_MODEL).top))
                for index in indices}
    assert len(set(expected.values())) >= 8  # many digits among them: a mix-up between clients would show

    def one_client(index: int) -> list[str]:
        client = Client(server_url, verbose=False)
        sketch = {"background": None, "layers": [], "composite": handle_file(paths[index])}
        return [client.predict(sketch, "mnist", DEFAULT_MODEL, api_name="/classify_drawing")[2]["label"]
                for _ in range(2)]

    with ThreadPoolExecutor(max_workers=CONCURRENT_CLIENTS) as pool:
        answers = dict(zip(indices, pool.map(one_client, indices), strict=True))
    assert answers == {index: [expected[index]] * 2 for index in indices}
    assert one_client(indices[0]) == [expected[indices[0]]] * 2
