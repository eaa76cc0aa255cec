"""Finding a pipeline's stage runs inside the experiment directory.

Layout: ``<log_dir>/<experiment>/<stage>/<timestamp>/`` with ``checkpoints/best.ckpt`` and, once
the run finished, ``metrics.json``. Stages find their upstream checkpoints here, like ``make``
finds prerequisites. While a run is alive it holds ``run.lock`` (:class:`FileLock`), so
``resume=auto`` never continues a run that is still training.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any


def finished_runs(experiment_dir: str | Path, stage: str) -> list[Path]:
    """Finished runs of ``stage`` (with metrics.json and a best checkpoint), oldest first."""
    base = Path(experiment_dir) / stage
    if not base.is_dir():
        return []
    runs = [
        p.parent
        for p in base.glob("*/metrics.json")
        if (p.parent / "checkpoints" / "best.ckpt").is_file()
    ]
    return sorted(runs, key=lambda p: (p / "metrics.json").stat().st_mtime)


def latest_run(experiment_dir: str | Path, stage: str) -> Path | None:
    runs = finished_runs(experiment_dir, stage)
    return runs[-1] if runs else None


def run_dir_of(checkpoint: str | Path) -> Path:
    """``<run>/checkpoints/best.ckpt`` -> ``<run>``."""
    return Path(checkpoint).resolve().parent.parent


def read_metrics(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


# each test image's PCK counts beside metrics.json (metrics/per_image.py): paired intervals
PER_IMAGE = "test_per_image.json"


def read_per_image(run_dir: str | Path) -> dict[str, Any] | None:
    """A run's :data:`PER_IMAGE` record as JSON values; None when the run wrote none (runs
    from before it existed)."""
    path = Path(run_dir) / PER_IMAGE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def run_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint a finished run tested and reported (``metrics.json``'s ``checkpoint``,
    ``train.yaml: test_checkpoint``): what a downstream stage starts from. Found by its file
    name in the run's own ``checkpoints/``, so a moved or copied experiment directory still
    finds its own files. Runs written before that key existed tested ``best.ckpt``."""
    tested = (read_metrics(run_dir) or {}).get("checkpoint")
    return Path(run_dir) / "checkpoints" / (Path(tested).name if tested else "best.ckpt")


def unfinished_runs(experiment_dir: str | Path, stage: str) -> list[Path]:
    """Runs of ``stage`` that saved ``last.ckpt`` but never wrote metrics.json, oldest first."""
    base = Path(experiment_dir) / stage
    if not base.is_dir():
        return []
    runs = [
        p.parent.parent
        for p in base.glob("*/checkpoints/last.ckpt")
        if not (p.parent.parent / "metrics.json").is_file()
    ]
    return sorted(runs, key=lambda p: (p / "checkpoints" / "last.ckpt").stat().st_mtime)


# ------------------------------------------------------------------------------ liveness locks
LOCK_FILE = "run.lock"


class FileLock:
    """An exclusive ``flock`` on ``path`` holding ``{"pid", "host"}`` while its owner lives.

    The kernel drops the lock when the owner exits, however it ends (SIGKILL included), so
    :func:`lock_holder` tells a live owner from a dead one without trusting PIDs; on NFS,
    Linux maps ``flock`` onto NFS byte-range locks, which other hosts see too.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> FileLock:
        """Take the lock (BlockingIOError if another process holds it) and write the owner."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise
        owner = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, owner.encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the file, then drop the lock (a finished owner leaves nothing behind)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_holder(path: str | Path) -> dict[str, Any] | None:
    """The owner (``{"pid", "host"}``) of a held :class:`FileLock` at ``path``; None when the
    file is missing or nobody holds it (its owner is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 4096, 0).decode(errors="replace")
            try:
                owner = json.loads(text)
            except ValueError:  # caught between truncate and write
                owner = {}
            return {"pid": owner.get("pid", "?"), "host": owner.get("host", "?")}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def run_holder(run_dir: str | Path) -> dict[str, Any] | None:
    """The live process running ``run_dir`` (its ``run.lock`` owner), or None."""
    return lock_holder(Path(run_dir) / LOCK_FILE)


class RunBusyError(OSError):
    """A run that a command would write into or continue is still alive."""


def hold_run(run_dir: str | Path) -> FileLock:
    """Lock ``run_dir`` for this process (released, and the file removed, at the end)."""
    lock = FileLock(Path(run_dir) / LOCK_FILE)
    try:
        return lock.acquire()
    except BlockingIOError:
        owner = lock_holder(lock.path) or {}
        raise RunBusyError(
            f"run directory {run_dir} is in use by another process (pid {owner.get('pid', '?')} "
            f"on {owner.get('host', '?')}); give this run its own paths.output_dir"
        ) from None
