"""One trained run's record (workflow.reuse keeps and finds them; workflow.training_runs trains them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnist_study.workflow.fingerprints import array_digest


@dataclass
class TrainedRun:
    """One trained model's record: what the notebooks use of a run, whether trained now or reused."""

    fingerprint: str
    settings: dict
    history: dict[str, list[float]]  # per-epoch loss, accuracy, val_loss, val_accuracy, learning_rate
    epochs_run: int
    best_epoch: int  # 1-based epoch with the lowest validation loss
    train_time_s: float  # the wall time of model.fit when it was trained
    parameter_count: int
    trained: dict  # provenance of the training: notebook, commit, CPU, start time
    test_probabilities: np.ndarray | None = None  # float32 (n_test, n_classes), where the run was tested
    model: object | None = None  # the keras.Model, when in memory
    model_file: Path | None = None  # a saved copy (cache or published), byte for byte what is published
    reused_from: str | None = None  # None: trained in this execution; else "published" or "cache"
    digests: dict = field(default_factory=dict)  # test_probabilities and model file SHA-256
    training_code: str = ""  # training_code_fingerprint() when it was trained (the runner's time estimates)
    # What a study step measures on the trained model, by the step's name: JSON-able values (validation scores),
    # and float32 (n_test, n_classes) test probabilities; kept and published with the run, so a rerun reuses them.
    extras: dict[str, object] = field(default_factory=dict)
    extra_test_probabilities: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        return self.settings["model"]

    @property
    def seed(self) -> int:
        return self.settings["seed"]

    def keras_model(self):
        """The trained model, loaded from its saved copy on first use."""
        if self.model is None:
            if self.model_file is None:
                raise ValueError(f"{self.model_name} seed {self.seed}: no model kept for this run")
            import keras

            self.model = keras.models.load_model(self.model_file)
        return self.model

    def record(self) -> dict:
        """JSON-ready, as published in a notebook's metrics (`trained_runs`)."""
        return {"fingerprint": self.fingerprint, **self.settings, "parameter_count": self.parameter_count,
                "epochs_run": self.epochs_run, "best_epoch": self.best_epoch, "train_time_s": self.train_time_s,
                "history": self.history, "trained": self.trained, "reused_from": self.reused_from,
                "training_code": self.training_code,
                "test_probabilities_sha256": self.digests.get("test_probabilities"),
                "model_sha256": self.digests.get("model"), "extras": self.extras,
                "extra_test_probabilities_sha256": {name: array_digest(array) for name, array
                                                    in sorted(self.extra_test_probabilities.items())}}


def from_record(record: dict, reused_from: str) -> TrainedRun:
    """A run as its published or cached record describes it (arrays and model found by the caller)."""
    settings = {key: record[key] for key in ("model", "model_kwargs", "num_classes", "dataset",
                                             "validation_fraction", "train_subset", "seed", "recipe")}
    digests = {"test_probabilities": record.get("test_probabilities_sha256"), "model": record.get("model_sha256")}
    return TrainedRun(record["fingerprint"], settings, record["history"], record["epochs_run"], record["best_epoch"],
                      record["train_time_s"], record["parameter_count"], record["trained"], reused_from=reused_from,
                      digests={key: value for key, value in digests.items() if value},
                      training_code=record.get("training_code", ""), extras=dict(record.get("extras", {})))
