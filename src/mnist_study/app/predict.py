"""Classify your own images with a model the study saved.

    python -m mnist_study.predict digit.png [more.jpg ...] [--model NAME] [--dataset mnist] [--json]

The default model is the best single model the study saved for the dataset (notebook 06's final).

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

RESULTS_DIR = PROJECT_ROOT / "results"
MODEL_DIR = RESULTS_DIR / "models"
BEST_MODELS_NOTEBOOK = "06_best_models"  # run once per dataset: 06_best_models_<dataset> names that dataset's final
TOP_K = 3


def available_models(dataset: str, model_dir: Path = MODEL_DIR) -> list[str]:
    prefix = f"{dataset}_"
    return sorted(path.stem[len(prefix):] for path in model_dir.glob(f"{prefix}*.keras"))


def best_model(dataset: str, results_dir: Path = RESULTS_DIR) -> str | None:
    """The best single model the study saved for `dataset`: notebook 06's final, as its metrics name it; before 06
    has run, the saved model of 01-04 with the best mean validation accuracy; else the first saved; None if none."""
    saved = available_models(dataset, results_dir / "models")
    metrics = results_dir / "metrics" / f"{BEST_MODELS_NOTEBOOK}_{dataset}.json"
    if metrics.is_file():
        final = json.loads(metrics.read_text()).get("results", {}).get(dataset, {}).get("final", {}).get("model")
        if final in saved:
            return final
    validation = {}
    for path in sorted((results_dir / "metrics").glob("0[1-4]_*.json")):
        trained = json.loads(path.read_text())
        if trained.get("dataset") == dataset:
            validation |= {name: float(np.mean([run["final_val_accuracy"] for run in summary["runs"]]))
                           for name, summary in trained.get("models", {}).items() if name in saved}
    if validation:
        return max(validation, key=validation.get)
    return saved[0] if saved else None


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
    parser.add_argument("--model", help="saved model: results/models/<dataset>_<NAME>.keras (default: the "
                                         "dataset's best single model, notebook 06's final)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    args = parser.parse_args(argv)
    check_dataset_name(args.dataset)
    if args.model is None:
        args.model = best_model(args.dataset)
        if args.model is None:
            print(f"predict: no model saved for {args.dataset} under {MODEL_DIR}: run `make all` first",
                  file=sys.stderr)
            return 2

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
