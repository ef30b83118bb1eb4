"""The images people really have: each form below holds a real test-set digit, and it must come back as that digit."""

import numpy as np
import pytest
from PIL import Image

from mnist_study.app import image_input
from mnist_study.app.image_input import MAX_SIDE, ImageError, load_image, read_image
from mnist_study.app.predict import MODEL_DIR, best_model, classify

DEFAULT_MODEL = best_model("mnist")  # notebook 06's final

INDICES = [0, 1, 4]  # a 7, a 2 and a 4 that the committed model gets right as they are
EXIF_ORIENTATION = 0x0112
ROTATE_90_CLOCKWISE_TO_VIEW = 6  # EXIF: the stored pixels must be turned 90 degrees clockwise for display


@pytest.fixture(scope="module")
def model():
    import keras

    path = MODEL_DIR / f"mnist_{DEFAULT_MODEL}.keras"
    if not path.is_file():
        pytest.fail(f"{path} missing: run 'make all' first")
    return keras.models.load_model(path)


def _upscaled(digit: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32)


def _black_ink_on_transparent(digit):
    alpha = _upscaled(digit, 140).clip(0, 255).astype(np.uint8)
    rgba = np.zeros((*alpha.shape, 4), dtype=np.uint8)  # colour channels all black, as canvases export
    rgba[..., 3] = alpha
    return Image.fromarray(rgba, mode="RGBA"), "png"


def _sixteen_bit_scan(digit):
    paper = 60000 - _upscaled(digit, 100) / 255 * 52000  # dark ink on light paper, using the 16-bit range
    return Image.fromarray(paper.clip(0, 65535).astype(np.uint16)), "png"


def _palette(digit):
    return Image.fromarray(255 - digit).resize((56, 56)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "png"


def _colour_photo_with_uneven_light(digit):
    side = 300
    ink = _upscaled(digit, side) / 255
    light = np.linspace(1.0, 0.35, side)[None, :] * np.linspace(1.0, 0.8, side)[:, None]  # a lamp on the left
    paper = np.array([245, 235, 200], dtype=np.float32)  # yellowish paper
    pen = np.array([30, 40, 140], dtype=np.float32)  # blue ink
    rgb = (paper * (1 - ink[..., None]) + pen * ink[..., None]) * light[..., None]
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8), mode="RGB"), "jpg"


def _sideways_phone_photo(digit):
    stored = Image.fromarray(np.rot90(255 - digit).copy()).resize((120, 120)).convert("RGB")  # turned 90 CCW
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90_CLOCKWISE_TO_VIEW
    return stored, "jpg", exif


def _very_large(digit):
    return Image.fromarray(digit).resize((4000, 4000), Image.Resampling.NEAREST), "png"


FORMS = {
    "alpha": _black_ink_on_transparent,
    "16-bit": _sixteen_bit_scan,
    "palette": _palette,
    "colour, uneven light": _colour_photo_with_uneven_light,
    "EXIF orientation": _sideways_phone_photo,
    "very large": _very_large,
}


@pytest.mark.parametrize("form", list(FORMS))
def test_each_form_of_a_real_digit_gets_its_label(form, model, mnist, tmp_path):
    files, labels = [], []
    for index in INDICES:
        image, suffix, *exif = FORMS[form](mnist.test_images[index])
        path = tmp_path / f"{index}.{suffix}"
        image.save(path, **({"exif": exif[0]} if exif else {}))
        files.append(path)
        labels.append(str(mnist.test_labels[index]))
    images = np.stack([load_image(path) for path in files])
    assert images.shape == (len(INDICES), 28, 28) and images.dtype == np.uint8
    predicted = [top[0]["class"] for top in classify(model, images, [str(digit) for digit in range(10)])]
    assert predicted == labels, form


def test_the_forms_would_fail_without_the_handling(mnist, tmp_path):
    # Evidence that the cases above test something: the naive reading of two of them loses the digit.
    image, _ = _black_ink_on_transparent(mnist.test_images[0])
    assert np.asarray(image.convert("L")).max() == 0  # all black: the old reader saw a blank image
    image, _ = _sixteen_bit_scan(mnist.test_images[0])
    assert len(np.unique(np.asarray(image.convert("L")))) <= 2  # clipped to 255: the strokes vanish


def test_large_images_are_reduced_before_the_work(mnist, tmp_path):
    image, _ = _very_large(mnist.test_images[0])
    image.save(tmp_path / "large.png")
    assert max(read_image(tmp_path / "large.png").size) == MAX_SIDE


def test_sideways_photo_is_turned_upright(mnist, tmp_path):
    stored, _, exif = _sideways_phone_photo(mnist.test_images[0])
    stored.save(tmp_path / "sideways.jpg", exif=exif)
    Image.fromarray(255 - mnist.test_images[0]).resize((120, 120)).convert("RGB").save(tmp_path / "upright.jpg")
    upright, turned = load_image(tmp_path / "upright.jpg"), load_image(tmp_path / "sideways.jpg")
    assert np.corrcoef(upright.ravel(), turned.ravel())[0, 1] > 0.9


@pytest.mark.parametrize(("make", "message"), [
    (lambda folder: folder, "is a directory, not an image file"),
    (lambda folder: folder / "missing.png", "file not found"),
    (lambda folder: Image.new("L", (40, 40), 255).save(folder / "white.png") or folder / "white.png",
     "blank image"),
    (lambda folder: Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(folder / "clear.png") or folder / "clear.png",
     "blank image"),
])
def test_unusable_inputs_are_named(make, message, tmp_path):
    with pytest.raises(ImageError, match=message):
        load_image(make(tmp_path))


def test_a_flat_image_is_blank_not_an_error_in_the_maths():
    with pytest.raises(ImageError, match="blank image"):
        image_input.to_dataset_image(Image.new("I;16", (30, 30), 1000))
