"""Atomic saves: a policy's files are staged, then renamed into place one by one, with a rollback."""

from __future__ import annotations

import os
from pathlib import Path


def new_file_mode(folder: Path) -> int:
    """The permissions a new file gets in ``folder`` under the process umask, read from a probe file (the
    umask itself can only be read by changing it, which is not thread-safe)."""
    probe = folder / ".mode-probe"
    os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    mode = probe.stat().st_mode & 0o777
    probe.unlink()
    return mode


def move_into_place(staging: Path, folder: Path) -> None:
    """Rename each file of ``staging`` into ``folder`` (atomic per file); if a rename fails, the files
    already moved are put back as they were, so ``folder`` holds either the new policy or the old one."""
    files = sorted(staging.iterdir())
    backup = staging / ".previous"
    backup.mkdir()
    mode = new_file_mode(staging)
    moved = []
    try:
        for file in files:
            file.chmod(mode)  # some writers create private (0600) temporary files
            target = folder / file.name
            if target.exists():
                os.replace(target, backup / file.name)
            moved.append(file.name)
            os.replace(file, target)
    except OSError as error:
        for name in moved:
            if (backup / name).exists():
                os.replace(backup / name, folder / name)
            else:
                (folder / name).unlink(missing_ok=True)
        raise OSError(error.errno, f"Saving the policy to {folder} failed while moving its files into place "
                      f"({error}); the files there were put back as they were.") from error  # fmt: skip
