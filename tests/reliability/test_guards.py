"""A non-finite loss stops training with the stage and step named; the last good checkpoint
stays as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from posehybrid.callbacks.guards import FiniteLossGuard, NonFiniteLossError
from posehybrid.utils.checkpoint import load_checkpoint
from tests.reliability.conftest import TINY, interrupt, paths, run_train_inprocess
from tests.reliability.toy import ToyDataModule, ToyModule, toy_trainer


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path, bad: float):
    class Bad(ToyModule):
        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            return loss * bad if self.global_step == 5 else loss

    module = Bad()
    with pytest.raises(NonFiniteLossError) as err:
        toy_trainer(tmp_path).fit(module, datamodule=ToyDataModule())
    message = str(err.value)
    assert "stage toy" in message and "global step 5" in message and "epoch 1" in message
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert f"the last good checkpoint {last} is kept" in message
    saved = load_checkpoint(last)
    assert saved["global_step"] == 4  # end of epoch 0: nothing after the bad step was saved
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())
    assert all(torch.isfinite(p).all() for p in module.parameters())  # no bad step applied
    assert sorted(p.name for p in last.parent.iterdir()) == ["best.ckpt", "last.ckpt"]


def test_before_any_checkpoint_the_message_says_so(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteLossError, match=r"global step 1 .*no checkpoint had been saved"):
        toy_trainer(tmp_path).fit(ToyModule(nan_at=1), datamodule=ToyDataModule())


def test_every_n_steps_is_validated() -> None:
    with pytest.raises(ValueError, match="every_n_steps"):
        FiniteLossGuard(every_n_steps=0)


def test_train_cli_names_stage_and_step(reliability_home: Path, monkeypatch, capsys) -> None:
    """A learning rate of 1e30 blows the detector up on its second step; epoch 0 (one step)
    was checkpointed and stays the resumable state."""
    name = "nan_loss"
    args = [*TINY, *paths(reliability_home), f"name={name}", "trainer.limit_train_batches=1",
            "stage.module.optimizer.lr=1e30"]  # fmt: skip
    code, err = run_train_inprocess(args, monkeypatch, capsys)
    lines = [line for line in err.splitlines() if line.startswith("train:")]
    assert code == 1 and len(lines) == 1, err
    assert "stage part_detector" in lines[0] and "global step 1" in lines[0]
    assert "last good checkpoint" in lines[0] and "Traceback" not in err
    (run,) = (reliability_home / "outputs" / name / "part_detector").iterdir()
    saved = load_checkpoint(run / "checkpoints" / "last.ckpt")
    assert saved["global_step"] == 1
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())
    assert not (run / "metrics.json").exists() and (run / "error.txt").is_file()
    print(lines[0])
    # Resumed with the same learning rate, it fails again before its own first checkpoint:
    # the last good state is then the checkpoint it resumed from (not "none saved yet").
    code, err = run_train_inprocess([*args, "resume=auto"], monkeypatch, capsys)
    lines = [line for line in err.splitlines() if line.startswith("train:")]
    assert code == 1 and len(lines) == 1, err
    last = run / "checkpoints" / "last.ckpt"
    assert f"the last good checkpoint is the one this run resumed from, {last}" in lines[0]
    assert "no checkpoint had been saved" not in lines[0]


def _train_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("train:")]


def test_train_cli_stops_a_diverging_loss(reliability_home: Path, monkeypatch, capsys) -> None:
    """lr=1e6 keeps the loss finite (1e24 and more) but useless: that is divergence too."""
    name = "diverging"
    args = [*TINY, *paths(reliability_home), f"name={name}", "stage.module.optimizer.lr=1e6"]
    code, err = run_train_inprocess(args, monkeypatch, capsys)
    lines = _train_lines(err)
    assert code == 1 and len(lines) == 1, err[-3000:]
    assert "training diverged" in lines[0] and "global step 1" in lines[0], lines[0]
    assert "times the median of its first 1 steps" in lines[0] and "Traceback" not in err
    (run,) = (reliability_home / "outputs" / name / "part_detector").iterdir()
    assert not (run / "metrics.json").exists()  # never the experiment's upstream


def test_device_flag_mode_catches_divergence(tmp_path: Path) -> None:
    class Blowup(ToyModule):
        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            return loss * 1e9 if self.global_step >= 5 else loss

    trainer = toy_trainer(tmp_path)
    trainer.callbacks = [
        FiniteLossGuard(every_n_steps=3) if isinstance(c, FiniteLossGuard) else c
        for c in trainer.callbacks
    ]
    with pytest.raises(NonFiniteLossError, match=r"global step 5, .*training diverged"):
        trainer.fit(Blowup(), datamodule=ToyDataModule())
    assert load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 4


def test_a_configured_learning_rate_replaces_the_checkpoints_on_resume(
    reliability_home: Path, monkeypatch, capsys
) -> None:
    """The advice after a divergence is to resume with a lower learning rate: the restored
    optimiser state must not silently bring the old one back."""
    name = "lr_on_resume"
    args = [*TINY, *paths(reliability_home), f"name={name}"]
    code, err = run_train_inprocess([*args, *interrupt("train", "SIGTERM", 2)], monkeypatch, capsys)
    assert code == 143, err[-3000:]
    code, err = run_train_inprocess(
        [*args, "resume=auto", "stage.module.optimizer.lr=5e-4"], monkeypatch, capsys
    )
    assert code == 0, err[-3000:]
    first, resumed = sorted((reliability_home / "outputs" / name / "part_detector").iterdir())
    (old,) = load_checkpoint(first / "checkpoints" / "last.ckpt")["optimizer_states"]
    (new,) = load_checkpoint(resumed / "checkpoints" / "last.ckpt")["optimizer_states"]
    assert old["param_groups"][0]["initial_lr"] == 5e-3  # the stage's default
    assert new["param_groups"][0]["initial_lr"] == 5e-4
    # 6 of 2240 cosine steps: still within 0.1% of the base rate
    assert new["param_groups"][0]["lr"] == pytest.approx(5e-4, rel=1e-3)


def test_device_flag_mode_reports_the_first_bad_step(tmp_path: Path) -> None:
    """every_n_steps=3: no per-step host sync; the first bad step is still the one named and
    no checkpoint is written from the weights it touched."""
    from posehybrid.callbacks.guards import PreemptionCheckpoint

    trainer = toy_trainer(tmp_path)
    trainer.callbacks = [
        FiniteLossGuard(every_n_steps=3) if isinstance(c, FiniteLossGuard) else c
        for c in trainer.callbacks
    ]
    assert any(isinstance(c, PreemptionCheckpoint) for c in trainer.callbacks)
    with pytest.raises(NonFiniteLossError, match="global step 5 "):
        trainer.fit(ToyModule(nan_at=5), datamodule=ToyDataModule())
    assert load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 4
