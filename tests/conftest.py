"""Shared fixtures: the real datasets are loaded once per test session (about half a second each)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from mnist_study.data import load_dataset  # noqa: E402


@pytest.fixture(scope="session")
def mnist():
    return load_dataset("mnist")


@pytest.fixture(scope="session")
def fashion_mnist():
    return load_dataset("fashion_mnist")
