"""Try the study's models in the browser: draw a digit or upload a photo, see what the model sees and why.

    make demo                                   # serves http://127.0.0.1:7860 (loopback only)
    .venv/bin/python -m mnist_study.demo --port 8000 [--share]

`predict_image` is the whole prediction, pure and tested; `build_demo` only wires it into a Gradio page.
Importing this module starts nothing.
"""

from __future__ import annotations

import argparse
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from mnist_study.app.image_input import ImageError, read_image, to_dataset_image
from mnist_study.app.predict import MODEL_DIR, TOP_K, available_models, best_model, classify
from mnist_study.core.data import DATASETS, prepare_images

# Gradio's Sketchpad opens with no tool selected ("select the draw tool to start"), which loses a newcomer's
# first stroke; the page selects its brush as soon as the button exists (a second click keeps it selected).
SELECT_BRUSH = """() => {
  const select = () => {
    const brush = document.querySelector('#sketch button[aria-label="Brush"]');
    if (!brush) { setTimeout(select, 100); return; }
    if (!brush.classList.contains("highlight")) brush.click();
  };
  select();
}"""
DISPLAY_SIDE = 224  # px: the 28x28 input, enlarged 8x without smoothing so its pixels stay visible
NO_INPUT = "Draw a digit on the canvas (it is read as you draw), or upload a photo or a scan."


@dataclass
class Prediction:
    """What the page shows: the model's input, its top classes, and where it looked (or why there is nothing)."""

    message: str = ""  # empty when the image was classified
    seen: np.ndarray | None = None  # uint8 (28, 28): the image after preprocessing, as the model gets it
    top: dict[str, float] = field(default_factory=dict)  # the TOP_K classes and their probabilities
    grad_cam: np.ndarray | None = None  # uint8 (28, 28, 3) overlay for the top class; None without convolutions


@functools.cache
def load_model(dataset: str, model_name: str):
    """Each saved model is read from disk once per process, not once per request."""
    import keras

    path = MODEL_DIR / f"{dataset}_{model_name}.keras"
    if not path.is_file():
        raise ValueError(f"model: {path.name} not found under {MODEL_DIR}; "
                         f"expected one of {available_models(dataset)}")
    return keras.models.load_model(path)


def predict_image(image: Image.Image | str | Path | None, dataset: str, model_name: str | None) -> Prediction:
    """Classify a drawing (PIL image) or an uploaded file (path); problems come back as a message, not raised."""
    if image is None:
        return Prediction(NO_INPUT)
    if dataset not in DATASETS:
        return Prediction(f"Unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}.")
    if not model_name:
        return Prediction(f"No saved model for {dataset}: run `make all` first.")
    try:
        picture = read_image(image) if isinstance(image, str | Path) else image
        seen = to_dataset_image(picture, dataset)
    except ImageError as error:
        return Prediction(f"Cannot classify this image: {error}.")
    try:
        model = load_model(dataset, model_name)
    except ValueError as error:
        return Prediction(str(error))
    class_names = DATASETS[dataset]["class_names"]
    (top,) = classify(model, seen[None], class_names, top_k=TOP_K)
    return Prediction(
        seen=seen,
        top={item["class"]: item["probability"] for item in top},
        grad_cam=_grad_cam_overlay(model, seen, class_names.index(top[0]["class"])),
    )


def _grad_cam_overlay(model, seen: np.ndarray, class_index: int) -> np.ndarray | None:
    """The top class's Grad-CAM heatmap (jet colours) blended over the input; None for a model without convolutions."""
    import matplotlib

    from mnist_study.analysis.interpretability import grad_cam, grad_cam_layer

    try:
        grad_cam_layer(model)
    except ValueError:  # no spatial activation feeds the classifier (the feedforward network)
        return None
    prepared = prepare_images(seen[None], model.input_shape[1])
    heatmap = grad_cam(model, prepared, np.array([class_index]))[0]
    if heatmap.shape != seen.shape:  # LeNet-5 looks at the 32x32 padded image: cut the padding away again
        margin = (heatmap.shape[0] - seen.shape[0]) // 2
        heatmap = heatmap[margin:margin + seen.shape[0], margin:margin + seen.shape[1]]
    colours = matplotlib.colormaps["jet"](heatmap)[..., :3]
    grey = np.repeat(seen[..., None] / 255.0, 3, axis=-1)
    return np.round((0.55 * grey + 0.45 * colours) * 255).astype(np.uint8)


def _enlarged(image: np.ndarray | None) -> np.ndarray | None:
    if image is None:
        return None
    return np.asarray(Image.fromarray(image).resize((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.NEAREST))


def _page_outputs(prediction: Prediction) -> tuple:
    """A Prediction as the page's four outputs: message, model input, top classes, Grad-CAM."""
    return (prediction.message or "", _enlarged(prediction.seen), prediction.top or None,
            _enlarged(prediction.grad_cam))


def classify_drawing(sketch: dict | None, dataset: str, model_name: str | None) -> tuple:
    """The Sketchpad's value is a dict of layers; its composite is the drawing (dark strokes, transparent canvas)."""
    composite = sketch.get("composite") if isinstance(sketch, dict) else sketch
    return _page_outputs(predict_image(composite, dataset, model_name))


def classify_upload(path: str | None, dataset: str, model_name: str | None) -> tuple:
    return _page_outputs(predict_image(path, dataset, model_name))


def build_demo():
    """The page: inputs on the left, what the model sees and says on the right."""
    import gradio as gr

    def models_for(dataset: str):
        return gr.Dropdown(choices=available_models(dataset), value=best_model(dataset))

    with gr.Blocks(title="MNIST study: try a model") as demo:
        gr.Markdown("# Try a model of the MNIST study\nDraw a digit (or a piece of clothing) or upload a photo or a "
                    "scan. The image is brought to the dataset's 28x28 form the way MNIST was made; the model sees "
                    "only that.")
        with gr.Row():
            with gr.Column():
                dataset = gr.Radio(sorted(DATASETS), value="mnist", label="Dataset")
                model_name = gr.Dropdown(choices=available_models("mnist"), value=best_model("mnist"),
                                         label="Model (saved under results/models/)")
                with gr.Tab("Draw"):
                    sketch = gr.Sketchpad(type="pil", image_mode="RGBA", format="png", canvas_size=(336, 336),
                                          brush=gr.Brush(colors=["#000000"], default_size=22, color_mode="fixed"),
                                          layers=False, label="Draw a digit with the mouse or a finger",
                                          elem_id="sketch")
                    draw_button = gr.Button("Classify the drawing")
                with gr.Tab("Upload"):
                    upload = gr.File(label="A photo or a scan (PNG, JPEG, ...)", file_types=["image"],
                                     type="filepath")
                    upload_button = gr.Button("Classify the upload", variant="primary")
            with gr.Column():
                message = gr.Markdown(elem_id="message")
                top = gr.Label(num_top_classes=TOP_K, label="Top 3 classes", elem_id="top-classes")
                with gr.Row():
                    seen = gr.Image(label="What the model sees (28x28)", type="numpy", interactive=False,
                                    elem_id="seen")
                    cam = gr.Image(label="Grad-CAM of the top class", type="numpy", interactive=False,
                                   elem_id="grad-cam")
        outputs = [message, seen, top, cam]
        dataset.change(models_for, dataset, model_name, api_visibility="private")
        draw_button.click(classify_drawing, [sketch, dataset, model_name], outputs, api_name="classify_drawing")
        # Read as it is drawn: each change of the canvas classifies it again. "always_last" keeps at most one
        # pending call per page, the newest drawing, so fast strokes never pile calls up in the queue.
        sketch.change(classify_drawing, [sketch, dataset, model_name], outputs, trigger_mode="always_last",
                      show_progress="hidden", api_visibility="private")
        upload_button.click(classify_upload, [upload, dataset, model_name], outputs, api_name="classify_upload")
        upload.upload(classify_upload, [upload, dataset, model_name], outputs, api_visibility="private")
        demo.load(None, js=SELECT_BRUSH)
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mnist_study.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=7860, help="port on 127.0.0.1 (default 7860)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from an offline machine
    build_demo().launch(server_name="127.0.0.1", server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
