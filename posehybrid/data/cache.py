"""Datasets generated once into a cache folder, atomically: ``root/<name>-<hash of params>``.

The folder is built in a temporary sibling and moved into place with ``os.replace`` after a
``COMPLETE`` marker is written, so an interrupted generation never leaves a half dataset that
looks finished. The generating process holds a lock inside its temporary folder, so the next
generation can tell the folders of killed ones (removed) from those of live ones (kept). The
folders get the umask's permissions, like a plain ``mkdir``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from posehybrid.utils.runs import FileLock, lock_holder

log = logging.getLogger(__name__)

_COMPLETE = "COMPLETE"
_PARAMS = "params.json"


def _params_hash(params: dict) -> str:
    blob = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


_BUILDING = ".building"  # flock'd by the generating process inside its temporary folder
_STALE_UNLOCKED_SECONDS = 600.0  # a temporary folder without that lock file: debris after this


def _remove_stale_builds(root: Path, name: str) -> None:
    """Delete the temporary folders that crashed or killed generations of ``name`` left in
    ``root``.

    A generation holds a lock on ``<tmp>/.building`` until it renames the folder, so a folder
    whose lock is free belongs to no live process; one without the file (written by an older
    version, or caught in the instant before the lock is taken) counts as debris only once it
    is ``_STALE_UNLOCKED_SECONDS`` old.
    """
    for tmp in root.glob(f".{name}-*.tmp-*"):
        lock = tmp / _BUILDING
        if lock.is_file():
            stale = lock_holder(lock) is None
        else:
            stale = time.time() - tmp.stat().st_mtime > _STALE_UNLOCKED_SECONDS
        if stale and tmp.is_dir():
            log.warning("data cache: removing %s, left by an interrupted generation", tmp)
            shutil.rmtree(tmp, ignore_errors=True)


def _mkdtemp(root: Path, final: Path) -> Path:
    """A temporary build folder with the permissions of a plain ``mkdir`` (``mkdtemp`` makes
    0700, which would lock everyone else out of a shared data directory once renamed)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=root))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    return tmp


def ensure_dir(root: Path, name: str, params: dict, build: Callable[[Path], None]) -> Path:
    """Return ``root/<name>-<hash>``, building it atomically when it is missing or incomplete."""
    final = root / f"{name}-{_params_hash(params)}"
    if (final / _COMPLETE).is_file():
        log.info("data cache: reusing %s", final)
        return final
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(root, name)
    if final.exists():
        # A folder without the marker is debris of something else; never trust it.
        log.warning("data cache: %s is incomplete, regenerating", final)
        shutil.rmtree(final, ignore_errors=True)
    log.info("data cache: generating %s", final)
    tmp = _mkdtemp(root, final)
    lock = FileLock(tmp / _BUILDING).acquire()
    try:
        build(tmp)
        (tmp / _PARAMS).write_text(json.dumps(params, indent=2, sort_keys=True) + "\n")
        (tmp / _COMPLETE).write_text("ok\n")  # written last: its presence means complete
        lock.release()  # removes .building: it must not end up in the dataset
        try:
            os.replace(tmp, final)
        except OSError:
            # Another process (e.g. a second DDP rank) finished first: use its copy.
            if not (final / _COMPLETE).is_file():
                raise
            log.info("data cache: %s was built concurrently, using that copy", final)
    finally:
        lock.release()
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
