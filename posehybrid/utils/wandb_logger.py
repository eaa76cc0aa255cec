"""The W&B logger of posehybrid runs: Lightning's ``WandbLogger``, with every run of one
experiment in one W&B directory and a link to it from each run directory.

``save_dir`` is the experiment's directory (``outputs/<exp>``), so W&B writes
``outputs/<exp>/wandb/offline-run-*``: the place ``wandb leet outputs/<exp>/wandb`` browses and
``wandb sync outputs/<exp>/wandb/offline-run-*`` uploads, all stages and sweep jobs together.
Each run directory gets ``wandb/<offline-run-...>``, a symbolic link to its own W&B run (or,
where links are not possible, ``wandb/<offline-run-...>.path`` holding the path).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from posehybrid.utils.io import atomic_write_text


def link_run(wandb_run_dir: str | Path, run_dir: str | Path) -> Path:
    """``<run_dir>/wandb/<name>`` -> ``wandb_run_dir`` (relative link; a ``.path`` file when
    the file system has no links). Returns the link or file written."""
    target = Path(wandb_run_dir).resolve()
    folder = Path(run_dir) / "wandb"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / target.name
    if link.is_symlink() or link.exists():
        return link
    try:
        link.symlink_to(os.path.relpath(target, folder), target_is_directory=True)
        return link
    except OSError:
        return atomic_write_text(link.with_name(f"{target.name}.path"), f"{target}\n")


class ExperimentWandbLogger(WandbLogger):
    """``WandbLogger`` plus the run-directory link.

    Args:
        run_dir: the posehybrid run directory that gets the link (``${paths.output_dir}``).
        *args, **kwargs: Lightning's ``WandbLogger`` arguments (``save_dir`` = the experiment
            directory).
    """

    def __init__(self, *args: Any, run_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lightning passes anonymous=None to wandb.init, which W&B >= 0.19 answers with "The
        # anonymous setting has no effect" on every run; not passing it is the same setting.
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
        self.run_dir = run_dir
        self._linked = False

    @property
    def experiment(self) -> Any:
        run = super().experiment
        if not self._linked and self.run_dir and rank_zero_only.rank == 0:
            self._linked = True
            files = getattr(run, "dir", None)  # <wandb dir>/offline-run-.../files
            if files:
                link_run(Path(files).parent, self.run_dir)
        return run
