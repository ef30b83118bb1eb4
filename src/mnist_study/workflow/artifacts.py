"""Result files written so that a crash never leaves half of one, and re-saving the same thing gives the same bytes."""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnist_study.core.distributed import is_chief


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> Path:
    """`write(temporary)` beside `path`, then a rename: a crash never leaves half a file, and the file it replaces
    stays whole until then. The study's one way to write a result (chief only: in a multi-worker run the others
    write nothing)."""
    path = Path(path)
    if not is_chief():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")  # the suffix kept: np.save and Keras need it
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def save_array(array: np.ndarray, path: str | Path) -> Path:
    """np.save, atomically."""
    return write_atomically(path, lambda temporary: np.save(temporary, array))


def copy_file_atomically(source: str | Path, path: str | Path) -> Path:
    """A byte-for-byte copy of `source` at `path`, atomically."""
    return write_atomically(path, lambda temporary: shutil.copyfile(source, temporary))


def _renumber_shared_object_ids(config_json: bytes) -> bytes:
    """Replace Keras' shared_object_id values (Python object addresses) by 0, 1, 2... in order of appearance."""
    numbering: dict[str, int] = {}

    def renumber(match: re.Match) -> str:
        return f'"shared_object_id": {numbering.setdefault(match.group(1), len(numbering))}'

    return re.sub(r'"shared_object_id": (\d+)', renumber, config_json.decode()).encode()


def save_model_reproducibly(model, path: str | Path) -> Path:
    """model.save, minus the save date, object addresses and zip timestamps: same weights, same bytes."""
    path = Path(path)
    saved = path.with_name(f".{path.stem}.saved.keras")

    def rewrite(temporary: Path) -> None:
        with zipfile.ZipFile(saved) as source, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
            for item in source.infolist():
                content = source.read(item)
                if item.filename == "metadata.json":
                    metadata = json.loads(content)
                    metadata.pop("date_saved", None)
                    content = json.dumps(metadata).encode()
                elif item.filename == "config.json":
                    content = _renumber_shared_object_ids(content)
                target.writestr(zipfile.ZipInfo(item.filename, date_time=(1980, 1, 1, 0, 0, 0)), content,
                                compress_type=zipfile.ZIP_DEFLATED)

    try:
        model.save(saved)
        return write_atomically(path, rewrite)  # a crash leaves the previous model file intact
    finally:
        saved.unlink(missing_ok=True)
