"""The study's notebooks, in the order `make all` runs them, and which of them train: the one list of them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Notebook:
    name: str  # what its results are published as (results/metrics/<name>.json, figures/<name>/ ...)
    trains: bool  # trains models (its metrics list `trained_runs`); the others read what these saved
    source: str = ""  # the notebook file, notebooks/<source>.ipynb: its name, unless one notebook runs once per dataset
    parameters: dict = field(default_factory=dict)  # what this run of the notebook is given (papermill parameters)

    @property
    def file(self) -> str:
        return self.source or self.name


# Numbered in the order they run, which their dependencies set: 05 reads the models of 01-03, 06 the results of
# 03-04, 07 the metrics and models of 03, 04 and 06, 08 every model's test probabilities and 07's choice, and the
# summary, last, reads everything. 06 is one notebook run once per dataset, each with its own sampler seeds.
STUDY = [
    Notebook("00_data_exploration", trains=False),
    Notebook("01_feedforward", trains=True),
    Notebook("02_lenet5", trains=True),
    Notebook("03_cnn_architectures", trains=True),
    Notebook("04_fashion_mnist", trains=True),
    Notebook("05_generalization_robustness_calibration", trains=False),
    Notebook("06_best_models_mnist", trains=True, source="06_best_models",
             parameters={"dataset": "mnist", "search_seed": 60}),
    Notebook("06_best_models_fashion_mnist", trains=True, source="06_best_models",
             parameters={"dataset": "fashion_mnist", "search_seed": 62}),
    Notebook("07_interpretability", trains=False),
    Notebook("08_label_errors_and_new_writers", trains=False),
    Notebook("09_summary", trains=False),
]
NOTEBOOKS = [notebook.name for notebook in STUDY]
TRAINING_NOTEBOOKS = [notebook.name for notebook in STUDY if notebook.trains]
SUMMARY = NOTEBOOKS[-1]  # reads every other notebook's metrics
EXPERIMENTS = NOTEBOOKS[:-1]
NOTEBOOK_FILES = list(dict.fromkeys(notebook.file for notebook in STUDY))  # notebooks/<file>.ipynb, each once


def notebook_entry(name: str) -> Notebook:
    """The study's notebook run `name`; a name the study does not list is a notebook file run as it is."""
    return next((notebook for notebook in STUDY if notebook.name == name), Notebook(name, trains=False))
