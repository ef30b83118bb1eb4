"""Shared fixtures: the real datasets are loaded once per test session (about half a second each)."""

import os
import socket

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from mnist_study.core.data import load_dataset  # noqa: E402


@pytest.fixture(scope="session")
def mnist():
    return load_dataset("mnist")


@pytest.fixture(scope="session")
def fashion_mnist():
    return load_dataset("fashion_mnist")


def free_local_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for test servers and workers)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
