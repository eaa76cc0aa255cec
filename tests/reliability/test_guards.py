"""A non-finite loss stops training with the stage and step named; the last good checkpoint
stays as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from posehybrid.callbacks.guards import FiniteLossGuard, NonFiniteLossError
from posehybrid.utils.checkpoint import load_checkpoint
from tests.reliability.conftest import TINY, paths, run_train_inprocess
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
