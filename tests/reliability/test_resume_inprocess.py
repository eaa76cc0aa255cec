"""Resume and pre-emption on a toy module: exact replay, real signals, the best checkpoint."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from posehybrid.callbacks.guards import PREEMPTED_EXIT_CODE
from posehybrid.utils.checkpoint import load_checkpoint
from tests.reliability.toy import ToyDataModule, ToyModule, toy_trainer

pl = pytest.importorskip("lightning.pytorch")


class StopAt(pl.Callback):
    """Stand-in for a kill: at global step ``step`` raise (``mode="crash"``, like SIGKILL the
    run just dies) or send this process a real signal (the pre-emption path)."""

    def __init__(self, step: int, mode: str) -> None:
        self.step, self.mode = step, mode

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step != self.step:
            return
        if self.mode == "crash":
            raise RuntimeError("simulated crash")
        os.kill(os.getpid(), getattr(signal, self.mode))


def _fit(run: Path, ckpt: str | None = None, stop: StopAt | None = None) -> ToyModule:
    pl.seed_everything(3, workers=True)
    module = ToyModule()
    trainer = toy_trainer(run, extra=[stop] if stop else None)
    trainer.fit(module, datamodule=ToyDataModule(), ckpt_path=ckpt, weights_only=True)
    return module


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[ToyModule, Path]:
    run = tmp_path_factory.mktemp("toy_ref")
    return _fit(run), run


def _state(module: ToyModule) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize(
    ("mode", "step"),
    [("crash", 5), ("SIGTERM", 6), ("SIGUSR1", 9), ("SIGTERM", 4), ("SIGTERM", 3),
     ("SIGUSR1", 11)],
    ids=["killed-mid-epoch", "sigterm-mid-epoch", "sigusr1-mid-epoch", "sigterm-epoch-start",
         "sigterm-last-batch-of-epoch", "sigusr1-last-step"],
)  # fmt: skip
def test_resume_replays_the_uninterrupted_run(reference, tmp_path: Path, mode: str, step: int):
    ref, ref_run = reference
    first = tmp_path / "first"
    if mode == "crash":
        with pytest.raises(RuntimeError, match="simulated crash"):
            _fit(first, stop=StopAt(step, mode))
    else:
        with pytest.raises(SystemExit) as exit_info:
            _fit(first, stop=StopAt(step, mode))
        assert exit_info.value.code == PREEMPTED_EXIT_CODE == 143
    last = first / "checkpoints" / "last.ckpt"
    saved_step = load_checkpoint(last)["global_step"]
    # A crash keeps the end-of-epoch checkpoint (4 steps); a signal stops before the next
    # batch (after the epoch's validation, or at the end of training) and saves there.
    assert saved_step == (4 if mode == "crash" else step + 1)

    resumed = _fit(tmp_path / "second", ckpt=str(last))
    # The resumed run continues at the saved step and trains on exactly the same batches and
    # augmentation draws as the uninterrupted run from there on ...
    assert [s[0] for s in resumed.seen[:1]] == [saved_step][: len(resumed.seen)]
    assert resumed.seen == ref.seen[saved_step:]
    # ... and ends with identical weights, the same best checkpoint (copied into the new run
    # directory) and the same best score.
    for key, value in _state(ref).items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0)
    ref_best = load_checkpoint(ref_run / "checkpoints" / "best.ckpt")
    new_best = load_checkpoint(tmp_path / "second" / "checkpoints" / "best.ckpt")
    assert new_best["global_step"] == ref_best["global_step"]
    for key, value in ref_best["state_dict"].items():
        torch.testing.assert_close(new_best["state_dict"][key], value, rtol=0, atol=0)
    states = [v for k, v in new_best["callbacks"].items() if k.startswith("ModelCheckpoint")]
    saved_by = tmp_path / ("second" if resumed.seen else "first")  # else: the copy of the old
    assert states and states[0]["dirpath"] == str(saved_by / "checkpoints")


def test_signal_handlers_are_restored_after_fit(reference) -> None:
    assert signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None)
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)


def test_last_checkpoint_stays_current_after_the_best_epoch(tmp_path: Path) -> None:
    """Lightning 2.6 refreshes last.ckpt only with a new best; RunCheckpoint always does."""

    class Worsening(ToyModule):
        def validation_step(self, batch, batch_idx):
            self.log("val/score", -float(self.current_epoch))  # best at epoch 0

    trainer = toy_trainer(tmp_path)
    trainer.fit(Worsening(), datamodule=ToyDataModule())
    assert load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 12
    assert load_checkpoint(tmp_path / "checkpoints" / "best.ckpt")["global_step"] == 4


def test_resume_in_a_new_directory_keeps_the_best(tmp_path: Path) -> None:
    """The best checkpoint and score carry over into the resumed run's own directory."""
    from posehybrid.callbacks.checkpointing import RunCheckpoint

    old = tmp_path / "old" / "checkpoints"
    old.mkdir(parents=True)
    (old / "best.ckpt").write_bytes(b"best weights")
    state = {
        "monitor": "val/score", "best_model_score": torch.tensor(0.7), "current_score": None,
        "best_model_path": str(old / "best.ckpt"), "dirpath": str(old),
        "best_k_models": {str(old / "best.ckpt"): torch.tensor(0.7)},
        "kth_best_model_path": str(old / "best.ckpt"), "kth_value": torch.tensor(0.7),
        "last_model_path": str(old / "last.ckpt"),
    }  # fmt: skip
    new = tmp_path / "new" / "checkpoints"
    callback = RunCheckpoint(dirpath=new, filename="best", monitor="val/score", mode="max")
    callback.load_state_dict(state)
    assert callback.best_model_score == torch.tensor(0.7)
    assert callback.best_model_path == str(new / "best.ckpt")
    assert (new / "best.ckpt").read_bytes() == b"best weights"
    assert list(callback.best_k_models) == [str(new / "best.ckpt")]
    assert callback.state_key.startswith("ModelCheckpoint{")


def test_epoch_reaches_persistent_workers() -> None:
    """The per-sample draws depend on (seed, epoch, index) only: the same with 0 workers and
    with a persistent worker that was started before the epoch changed."""
    from torch.utils.data import DataLoader

    from posehybrid.utils.resume import EpochSampler
    from tests.reliability.toy import ToyData

    def draws(workers: int) -> list[list[float]]:
        data = ToyData()
        data.seed = 11
        sampler = EpochSampler(data, seed=11)
        loader = DataLoader(
            data, batch_size=4, sampler=sampler, num_workers=workers,
            persistent_workers=workers > 0,
        )  # fmt: skip
        out = []
        for epoch in range(3):
            sampler.set_epoch(epoch)
            out.append([float(v) for b in loader for v in b["x"][:, 1]])
        return out

    inline, worker = draws(0), draws(1)
    assert inline == worker
    assert inline[0] != inline[1] != inline[2]  # a new shuffle and new draws every epoch


def test_resume_auto_choice_follows_the_continuation(tmp_path: Path) -> None:
    """A continuation only hides the run it resumed once it has a checkpoint of its own."""
    from omegaconf import OmegaConf

    from posehybrid.training import resume_path
    from posehybrid.utils.resume import mark_resumed

    exp = tmp_path / "exp"
    old, new, me = (exp / "part_detector" / n for n in ("1_old", "2_new", "3_me"))
    (old / "checkpoints").mkdir(parents=True)
    (old / "checkpoints" / "last.ckpt").write_bytes(b"x")
    cfg = OmegaConf.create({"resume": "auto", "ckpt_path": None, "stage": {"name": "part_detector"},
                            "paths": {"experiment_dir": str(exp)}})  # fmt: skip
    old_last = str(old / "checkpoints" / "last.ckpt")
    assert resume_path(cfg, me) == old_last
    mark_resumed(old_last, new)  # "new" continued "old" but died before its first checkpoint
    assert resume_path(cfg, me) == old_last
    (new / "checkpoints").mkdir(parents=True)
    (new / "checkpoints" / "last.ckpt").write_bytes(b"y")
    assert resume_path(cfg, me) == str(new / "checkpoints" / "last.ckpt")
    (new / "metrics.json").write_text("{}")  # the continuation finished: nothing to resume
    assert resume_path(cfg, me) is None
