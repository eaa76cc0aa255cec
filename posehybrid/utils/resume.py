"""Resuming a killed run exactly: W&B run identity and epoch-keyed data randomness.

Why the data part exists. Lightning's checkpoints restore the model, optimiser, scheduler, loops
and callbacks, but not the random number generators, and ``seed_everything(workers=True)`` seeds
each DataLoader worker from a base seed drawn from the main process's RNG when the workers start
(not from the epoch or global step). With ``persistent_workers=True`` the workers, and the
augmentation RNG inside them, live across epochs. So after a resume the shuffle order and every
augmentation differ from the uninterrupted run. The fix is to make every random draw of the
training data a pure function of ``(seed, epoch, index)``:

* :class:`EpochSampler` shuffles with ``seed + epoch`` (Lightning calls ``set_epoch`` before each
  epoch) and passes the epoch on to the dataset through :class:`SharedEpoch`, a shared-memory
  scalar that persistent workers see too;
* :func:`sample_rng` gives each training sample its own generator from ``(seed, epoch, index)``,
  which also makes augmentation independent of ``num_workers``.

Resuming from an end-of-epoch ``last.ckpt`` then reproduces the uninterrupted run exactly (CPU,
``trainer.deterministic=true``); a mid-epoch checkpoint (pre-emption) skips the batches the
epoch already trained on (``EpochSampler(skip=...)``). Under DDP every rank takes its share
of the same global order, so the draws do not depend on the number of processes either.

W&B: the run id is stored in ``<run>/wandb_id.txt``; a resumed run passes ``id=`` and
``resume="allow"`` to the ``WandbLogger`` so the curves continue in the same W&B run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, open_dict
from torch.utils.data import DistributedSampler

from posehybrid.utils.io import atomic_write_text

log = logging.getLogger(__name__)

WANDB_ID_FILE = "wandb_id.txt"
RESUMED_MARKER = "resumed_by.txt"


# ---------------------------------------------------------------------------------- W&B identity
def _run_dir_of(checkpoint: str | Path) -> Path:
    """``<run>/checkpoints/last.ckpt`` -> ``<run>``."""
    return Path(checkpoint).resolve().parent.parent


def prepare_wandb_resume(cfg: DictConfig, resume_ckpt: str | None) -> str | None:
    """Before the loggers are built: when resuming a run that logged to W&B, make the
    ``WandbLogger`` continue that run (``id=<old id>``, ``resume="allow"``).

    Returns the W&B id reused, or None (not resuming, no W&B logger, or no stored id).
    """
    wandb_cfg = (cfg.get("logger") or {}).get("wandb")
    if not resume_ckpt or not wandb_cfg:
        return None
    id_file = _run_dir_of(resume_ckpt) / WANDB_ID_FILE
    if not id_file.is_file():
        log.info("resuming from %s: no %s there, W&B starts a new run", resume_ckpt, id_file)
        return None
    run_id = id_file.read_text(encoding="utf-8").strip()
    if not run_id:
        return None
    with open_dict(cfg):
        cfg.logger.wandb.id = run_id
        cfg.logger.wandb.resume = "allow"
    log.info("resuming W&B run %s (id from %s)", run_id, id_file)
    return run_id


def save_wandb_id(loggers: Sequence[Any], output_dir: str | Path) -> str | None:
    """Write the W&B run id of this run to ``<output_dir>/wandb_id.txt`` (rank 0 only)."""
    from lightning.pytorch.loggers import WandbLogger
    from lightning.pytorch.utilities import rank_zero_only

    if rank_zero_only.rank != 0:
        return None
    for lg in loggers:
        if isinstance(lg, WandbLogger):
            run_id = str(lg.experiment.id)
            atomic_write_text(Path(output_dir) / WANDB_ID_FILE, run_id + "\n")
            return run_id
    return None


def mark_resumed(resume_ckpt: str | None, output_dir: str | Path) -> None:
    """Record in the resumed run that ``output_dir`` continues it (call before fitting).

    :func:`was_resumed` only counts the mark once the continuation has a checkpoint of its
    own, so a continuation killed before its first checkpoint leaves the old run resumable.
    """
    if not resume_ckpt:
        return
    old = _run_dir_of(resume_ckpt)
    if old != Path(output_dir).resolve():
        atomic_write_text(old / RESUMED_MARKER, f"{Path(output_dir).resolve()}\n")


def resumed_by(run_dir: str | Path) -> Path | None:
    """The run that continued (or is continuing) ``run_dir``, if any."""
    marker = Path(run_dir) / RESUMED_MARKER
    if not marker.is_file():
        return None
    return Path(marker.read_text(encoding="utf-8").strip())


def was_resumed(run_dir: str | Path) -> bool:
    """True when another run continued this one and got further (has its own checkpoint), so
    ``resume=auto`` must not pick this run again."""
    by = resumed_by(run_dir)
    if by is None:
        return False
    return (by / "checkpoints" / "last.ckpt").is_file() or (by / "metrics.json").is_file()


# ------------------------------------------------------------------ epoch-keyed data randomness
def _mix(*values: int) -> int:
    """A 63-bit seed from several integers (SeedSequence mixing: nearby inputs decorrelate)."""
    state = np.random.SeedSequence([int(v) % (2**64) for v in values]).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) % (2**63)


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The augmentation generator of one training sample: a pure function of its arguments."""
    return np.random.default_rng([int(seed) % (2**64), int(epoch), int(index)])


class SharedEpoch:
    """An epoch number in shared memory: the main process sets it, DataLoader workers (also
    persistent ones, forked or spawned before the change) read the current value."""

    def __init__(self, epoch: int = 0) -> None:
        self._value = torch.full((), int(epoch), dtype=torch.int64).share_memory_()

    def set(self, epoch: int) -> None:
        self._value.fill_(int(epoch))

    def get(self) -> int:
        return int(self._value.item())


class EpochSampler(DistributedSampler):
    """Shuffled indices keyed on ``(seed, epoch)``: the same order for an epoch whether the run
    was resumed or not, and whatever the number of processes.

    Under DDP each rank takes every ``num_replicas``-th index of the one global order (the
    epoch's tail that does not fill all ranks equally is dropped, as a training loader drops
    its last partial batch), so rank ``r``'s ``k``-th batch of ``b`` holds the global order's
    ``k``-th block of ``b * num_replicas`` indices: the same samples, in the same global
    batches, as one process with batch ``b * num_replicas``. It is a ``DistributedSampler`` so
    that Lightning keeps it instead of wrapping it in its own.

    Args:
        dataset: the training dataset; if it has ``set_epoch``, it is told each new epoch (the
            augmentation of :func:`sample_rng` needs it).
        seed: the run's seed (``torch.initial_seed()`` after ``seed_everything``).
        epoch: the first epoch this sampler serves: ``0``, or the resumed epoch. Lightning
            creates the resumed epoch's iterator before it calls ``set_epoch``, so the
            DataModule must pass the epoch here.
        skip: indices (of this rank) to leave out at the start of the first epoch served: a
            mid-epoch resume continues with the batches the killed run had not trained on yet.
        shuffle: False keeps file order (still telling the dataset the epoch).
        num_replicas / rank: the DDP world size and this process's global rank.
    """

    def __init__(
        self,
        dataset: Any,
        seed: int,
        epoch: int = 0,
        skip: int = 0,
        shuffle: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=int(seed),
            drop_last=True,
        )  # fmt: skip
        self.epoch = int(epoch)
        self.skip = max(0, int(skip))
        self._skip_epoch = self.epoch
        self._tell_dataset()

    def _tell_dataset(self) -> None:
        set_epoch = getattr(self.dataset, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(self.epoch)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self._tell_dataset()

    def order(self, epoch: int) -> list[int]:
        """The full (global, all ranks) index order of ``epoch``."""
        n = len(self.dataset)
        if not self.shuffle:
            return list(range(n))
        gen = torch.Generator().manual_seed(_mix(self.seed, epoch))
        return torch.randperm(n, generator=gen).tolist()

    def __iter__(self) -> Iterator[int]:
        order = self.order(self.epoch)[: len(self) * self.num_replicas][
            self.rank :: self.num_replicas
        ]
        if self.skip and self.epoch == self._skip_epoch:
            order = order[self.skip :]
            self.skip = 0  # only the interrupted epoch is shortened
        return iter(order)

    def __len__(self) -> int:
        # Always the full epoch: on a mid-epoch resume Lightning counts the restored batches
        # as done and stops after the rest, which is exactly what __iter__ then yields.
        return len(self.dataset) // self.num_replicas


def epoch_sampler(dataset: Any, trainer: Any, batch_size: int) -> EpochSampler:
    """The training sampler for ``PoseDataModule.train_dataloader`` (also tells ``dataset`` its
    seed, which switches it to per-sample augmentation RNGs), for this process's rank."""
    epoch, done = resume_position(trainer)
    if epoch or done:
        log.info("training data continues at epoch %d after %d trained batches", epoch, done)
    seed = torch.initial_seed()  # the seed_everything seed in the main process
    if hasattr(dataset, "seed"):
        dataset.seed = seed
    world = int(getattr(trainer, "world_size", 1)) if trainer is not None else 1
    rank = int(getattr(trainer, "global_rank", 0)) if trainer is not None else 0
    return EpochSampler(
        dataset, seed, epoch=epoch, skip=done * int(batch_size), num_replicas=world, rank=rank
    )


def resume_position(trainer: Any) -> tuple[int, int]:
    """``(epoch, batches already trained in it)`` where a (resumed) fit continues.

    Read in ``train_dataloader()``: Lightning has restored its loops by then. An end-of-epoch
    checkpoint gives ``(next epoch, 0)``; a mid-epoch one ``(its epoch, trained batches)``.
    """
    if trainer is None:
        return 0, 0
    fit_loop = trainer.fit_loop
    epoch = int(fit_loop.epoch_progress.current.processed)
    # processed: the batches whose optimiser step is in the checkpoint. Not ready (a batch
    # fetched but not stepped is trained again on resume), and not completed either: a
    # checkpoint written at a batch's end (pre-emption) counts that batch as processed, not
    # yet completed, and Lightning completes it on restart after this is read.
    batches = int(fit_loop.epoch_loop.batch_progress.current.processed)
    if not fit_loop.restarting:
        batches = 0
    return epoch, batches
