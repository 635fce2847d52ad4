"""Folders and files only their owner can read: the store, its spool of batch inputs (prompts),
uploads and secrets hold what users would not show the other accounts on the machine.

Folders halfrate creates are 0700 and files 0600, whatever the umask allows more; folders and
files that were there before are left as their owner set them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> Path:
    """``path`` as a folder, created (with any missing parents) for its owner alone."""
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        made.mkdir(mode=FOLDER_MODE, exist_ok=True)
    return path


def create_private_file(path: Path) -> None:
    """Create ``path`` empty for its owner alone, unless it exists already."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def open_private(path: Path) -> BinaryIO:
    """``path`` opened for writing from empty; created for its owner alone when new."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb")
