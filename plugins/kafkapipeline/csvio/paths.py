"""Paths the CSV import reads and the CSV export writes: confined to the data root.

A Param path is typed by whoever triggers a run, so :func:`confine` refuses ``..``, absolute paths outside
the root and symlinks out of it, and returns the resolved path; :func:`check_opened` re-checks the open
descriptor, catching a folder swapped for a symlink in between.
"""

from __future__ import annotations

import os
from pathlib import Path

from kafkapipeline import settings

DATA_ROOT_ENV = settings.env_name("data_root")
#: Longest path a Param may name (characters).
MAX_PATH_LENGTH = 1024
#: JSON-schema pattern for path Params: no ``..`` segment, no control characters
#: (:func:`confine` checks the same, and symlinks, when the task runs).
PATH_PARAM_PATTERN = r"^(?!(.*/)?\.\.(/|$))[^\x00-\x1f\x7f]+$"


class PathOutsideDataRoot(ValueError):
    """A path that leads out of the data root, or cannot name a file in it."""


def data_root() -> Path:
    """The data root, absolute and resolved.

    :raises PathOutsideDataRoot: ``KAFKAPIPELINE_DATA_ROOT`` is relative (it would depend on
        the worker's current folder)
    """
    root = settings.data_root()
    if not root.is_absolute():
        raise PathOutsideDataRoot(f"{DATA_ROOT_ENV} must be an absolute path, got {str(root)!r}")
    return root.resolve()


def confine(path: str | Path, *, what: str = "path") -> Path:
    """``path`` resolved inside the data root (relative paths start at the root).

    :raises PathOutsideDataRoot: the path is empty, too long, holds control characters or a
        ``..`` segment, or resolves (symlinks followed) outside the root
    """
    text = str(path).strip()
    root = data_root()
    hint = f"paths must stay inside the data root {root} (set {DATA_ROOT_ENV} to change it)"
    if not text:
        raise PathOutsideDataRoot(f"{what} is empty; {hint}")
    if len(text) > MAX_PATH_LENGTH:
        raise PathOutsideDataRoot(f"{what} is {len(text)} characters, more than {MAX_PATH_LENGTH}")
    if any(ord(char) < 0x20 or char == "\x7f" for char in text):
        raise PathOutsideDataRoot(f"{what} {text!r} contains control characters")
    candidate = Path(text)
    if ".." in candidate.parts:
        raise PathOutsideDataRoot(f"{what} {text!r} contains '..'; {hint}")
    full = candidate if candidate.is_absolute() else root / candidate
    resolved = full.resolve()  # follows every symlink on the way, the last one included
    if not resolved.is_relative_to(root):
        through = "" if resolved == Path(full).absolute() else f" (through a symlink, to {resolved})"
        raise PathOutsideDataRoot(f"{what} {text!r} is outside the data root{through}; {hint}")
    return resolved


def check_opened(fd: int, *, what: str = "file") -> None:
    """The file open on ``fd`` lies inside the data root (Linux's ``/proc/self/fd``; elsewhere a no-op).

    :raises PathOutsideDataRoot: it does not
    """
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return  # no /proc: the path was checked just before it was opened
    confine(target, what=what)
