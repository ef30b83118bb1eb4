"""Classify your own images with a model the study saved.

    python -m mnist_study.predict digit.png [more.jpg ...] [--model cnn_batchnorm] [--dataset mnist] [--json]

Each image is brought to the dataset's form by `mnist_study.app.image_input` (the conversion the demo uses
too). A file that cannot be classified gets one line on stderr; the others are still classified, and the
exit status is then 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from mnist_study.app.image_input import ImageError, load_image
from mnist_study.core.data import DATASETS, check_dataset_name
from mnist_study.workflow.fingerprints import PROJECT_ROOT

MODEL_DIR = PROJECT_ROOT / "results" / "models"
DEFAULT_MODEL = "cnn_batchnorm"  # notebook 03's batch-norm CNN, saved for both datasets (03 and 04)
TOP_K = 3


def available_models(dataset: str, model_dir: Path = MODEL_DIR) -> list[str]:
    prefix = f"{dataset}_"
    return sorted(path.stem[len(prefix):] for path in model_dir.glob(f"{prefix}*.keras"))


def classify(model, images: np.ndarray, class_names: list[str], top_k: int = TOP_K) -> list[list[dict]]:
    """Top-k classes with probabilities for each uint8 (28, 28) image."""
    from mnist_study.core.data import prepare_images
    from mnist_study.core.inference import predict_probabilities

    side = model.input_shape[1]
    probabilities = predict_probabilities(model, prepare_images(images, side))
    ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
    return [[{"class": class_names[index], "probability": float(row[index])} for index in order]
            for row, order in zip(probabilities, ranked, strict=True)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_study.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", help="PNG or JPEG files (any size, any background)")
    parser.add_argument("--dataset", default="mnist", choices=sorted(DATASETS), help="which kind of images")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"saved model: results/models/<dataset>_<NAME>.keras (default {DEFAULT_MODEL})")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    args = parser.parse_args(argv)
    check_dataset_name(args.dataset)

    model_path = MODEL_DIR / f"{args.dataset}_{args.model}.keras"
    if not model_path.is_file():
        print(f"predict: unknown model {args.model!r} for {args.dataset}: {model_path} not found; "
              f"expected one of {available_models(args.dataset)}", file=sys.stderr)
        return 2

    images, names, failed = [], [], False
    for name in args.images:
        try:
            images.append(load_image(name, args.dataset))
            names.append(name)
        except ImageError as error:
            print(f"predict: {name}: {error}", file=sys.stderr)
            failed = True
    results = []
    if images:
        # TensorFlow's C++ start-up messages would drown the one line per bad file on stderr.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras

        model = keras.models.load_model(model_path)
        results = classify(model, np.stack(images), DATASETS[args.dataset]["class_names"])
    if args.json:
        print(json.dumps([{"file": name, "top": top} for name, top in zip(names, results, strict=True)], indent=2))
    else:
        for name, top in zip(names, results, strict=True):
            print(f"{name}: " + ", ".join(f"{item['class']} ({item['probability']:.1%})" for item in top))
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
