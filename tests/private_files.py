"""Which files under a folder another local user could read or write (group or other bits set)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def exposed(root: Path) -> list[str]:
    """``"<mode> <path>"`` of each file and folder under ``root`` with a group or other bit (not symlinks)."""
    found = []
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:
                continue  # removed while we walked (a rotated log, a finished task's socket)
            if not stat.S_ISLNK(mode) and mode & 0o077:
                found.append(f"{oct(stat.S_IMODE(mode))} {path}")
    return found
