"""Folders kept per run under the data directory (dbt's builds, GX Data Docs): the newest are
kept to look back at a run, the older ones deleted, so that a schedule never fills the disk."""

import shutil
from pathlib import Path


def keep_newest_folders(parent: Path, kept: int) -> list[Path]:
    """Delete the folders in `parent` but the `kept` newest (by modification time).

    Returns:
        The folders kept, newest first.
    """
    folders = sorted(
        (p for p in parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in folders[kept:]:
        shutil.rmtree(old, ignore_errors=True)
    return folders[:kept]
