"""The training console: one handler per log line, no Lightning/W&B noise, the start-up block,
one line per validation, no "dataloader is not resumable" warning where posehybrid replays
the data exactly, and mistyped keys answered with the nearest existing key."""

from __future__ import annotations

import io
import logging
import os
import signal
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from posehybrid.utils.overrides import nearest_key, override_problems, trainer_key_problems

pl = pytest.importorskip("lightning.pytorch")


@pytest.fixture
def root_buffer() -> Iterator[io.StringIO]:
    """A root handler (as Hydra installs) writing to a buffer; logging state restored after."""
    import lightning  # noqa: F401  (adds its own handler, as in a real run)

    names = ("", "lightning", "lightning.pytorch", "lightning.fabric",
             "lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")  # fmt: skip
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).filters[:],
                 logging.getLogger(n).propagate, logging.getLogger(n).level) for n in names}  # fmt: skip
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("[%(name)s][%(levelname)s] - %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # What ``import lightning`` installs in a fresh process; an earlier in-process run of an
    # entry point in this test session may have removed it already.
    lightning_logger = logging.getLogger("lightning")
    if not any(type(h) is logging.StreamHandler for h in lightning_logger.handlers):
        lightning_logger.addHandler(logging.StreamHandler())
    yield buf
    for n, (handlers, filters, propagate, level) in saved.items():
        lg = logging.getLogger(n)
        lg.handlers[:], lg.filters[:], lg.propagate, lg.level = handlers, filters, propagate, level


def test_each_lightning_line_once_and_no_adverts(
    root_buffer: io.StringIO, capsys: pytest.CaptureFixture
) -> None:
    from lightning.pytorch.utilities.rank_zero import rank_zero_info

    from posehybrid.utils.console import setup_console

    assert any(type(h) is logging.StreamHandler for h in logging.getLogger("lightning").handlers)
    setup_console()
    assert not any(
        type(h) is logging.StreamHandler for h in logging.getLogger("lightning").handlers
    )
    logging.getLogger("lightning.fabric.utilities.seed").info("Seed set to 42")
    rank_zero_info("💡 Tip: For seamless cloud logging, try installing litlogger")
    rank_zero_info("GPU available: False, used: False")
    text = root_buffer.getvalue() + capsys.readouterr().err
    assert text.count("Seed set to 42") == 1 and "INFO: Seed" not in text
    assert "litlogger" not in text
    assert text.count("GPU available") == 1


def test_wandb_logger_leaves_anonymous_unset_and_links_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wandb

    from posehybrid.utils.wandb_logger import ExperimentWandbLogger

    seen: dict = {}
    wandb_run = tmp_path / "exp" / "wandb" / "offline-run-20260101_000000-abc"
    (wandb_run / "files").mkdir(parents=True)

    class FakeRun:
        dir = str(wandb_run / "files")

    def fake_init(**kwargs):
        seen.update(kwargs)
        return FakeRun()

    monkeypatch.setattr(wandb, "init", fake_init)
    monkeypatch.setattr(wandb, "run", None)
    run_dir = tmp_path / "exp" / "joint" / "ts"
    logger = ExperimentWandbLogger(
        project="p", save_dir=str(tmp_path / "exp"), run_dir=str(run_dir), offline=True
    )
    assert isinstance(logger.experiment, FakeRun)
    assert "anonymous" not in seen  # W&B warns about any value, None included
    link = run_dir / "wandb" / wandb_run.name
    assert link.is_symlink() and link.resolve() == wandb_run.resolve()


# ------------------------------------------------------------------ callbacks on a toy fit
class SigtermAt(pl.Callback):
    """Pre-empt the run at ``step``: PreemptionCheckpoint saves a mid-epoch last.ckpt."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def _toy_fit(run: Path, callbacks: list, ckpt: str | None = None) -> pl.Trainer:
    from tests.reliability.toy import ToyDataModule, ToyModule, toy_trainer

    pl.seed_everything(3, workers=True)
    trainer = toy_trainer(run, extra=callbacks)
    trainer.fit(ToyModule(), datamodule=ToyDataModule(), ckpt_path=ckpt, weights_only=True)
    return trainer


def test_settings_block_and_one_line_per_validation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from posehybrid.callbacks.console import RunSettings, ValidationSummary

    with caplog.at_level(logging.INFO, logger="posehybrid.run"):
        _toy_fit(tmp_path, [RunSettings("toyexp", 3), ValidationSummary("val/score")])
    lines = [r.getMessage() for r in caplog.records if r.name == "posehybrid.run"]
    block = lines[0]
    assert block.startswith("stage toy of experiment toyexp")
    for text in (f"run dir    {tmp_path}", "at most 3 epoch(s)", "Adam lr 0.05", "seed 3",
                 "device cpu", "precision 32-true", "net 3"):  # fmt: skip
        assert text in block, block
    steps = [line for line in lines if line.startswith("step ")]
    assert [s.split()[1] for s in steps] == ["4/12", "8/12", "12/12"]  # one per validation
    assert all("train/loss" in s and "val/score" in s and "best" in s for s in steps)
    scores = [float(s.split("val/score ")[1].split()[0]) for s in steps]
    best = float(steps[-1].split("best ")[1].split()[0])
    assert best == pytest.approx(max(scores), abs=1e-3)


def test_no_unresumable_loader_warning_where_the_data_replays_exactly(tmp_path: Path) -> None:
    from posehybrid.callbacks.console import RunSettings, ValidationSummary

    with pytest.raises(SystemExit):
        _toy_fit(tmp_path / "first", [SigtermAt(6)])
    last = str(tmp_path / "first" / "checkpoints" / "last.ckpt")

    def resumed_warnings(callbacks: list, run: Path) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _toy_fit(run, callbacks, ckpt=last)
        return [str(w.message) for w in caught]

    plain = resumed_warnings([ValidationSummary("val/score")], tmp_path / "plain")
    assert any("not resumable" in m for m in plain)  # the warning this test is about exists
    ours = resumed_warnings([RunSettings("toy", 3), ValidationSummary("val/score")],
                            tmp_path / "ours")  # fmt: skip
    assert not any("not resumable" in m for m in ours)


def test_console_callbacks_keep_a_resumed_run_exact(tmp_path: Path) -> None:
    """The start-up block must not build the training loader before Lightning restored the
    loops: the resumed run would then replay epoch 0's order instead of the killed epoch's."""
    from posehybrid.callbacks.console import RunSettings, ValidationSummary
    from tests.reliability.toy import ToyModule

    def fit(run: Path, callbacks: list, ckpt: str | None = None) -> ToyModule:
        from tests.reliability.toy import ToyDataModule, toy_trainer

        pl.seed_everything(3, workers=True)
        module = ToyModule()
        trainer = toy_trainer(run, extra=callbacks)
        trainer.fit(module, datamodule=ToyDataModule(), ckpt_path=ckpt, weights_only=True)
        return module

    ours = [RunSettings("toy", 3), ValidationSummary("val/score")]
    reference = fit(tmp_path / "ref", ours)
    with pytest.raises(SystemExit):
        fit(tmp_path / "first", [*ours, SigtermAt(6)])
    resumed = fit(tmp_path / "second", ours, ckpt=str(tmp_path / "first/checkpoints/last.ckpt"))
    assert resumed.seen == reference.seen[resumed.seen[0][0] :]


# ------------------------------------------------------------------ mistyped keys
def test_nearest_key() -> None:
    tree = {"trainer": {"max_epochs": -1, "max_steps": 10}, "data": {"batch_size": 8}}
    assert nearest_key("trainer.max_epoch", tree) == "trainer.max_epochs"
    assert nearest_key("data.batchsize", tree) == "data.batch_size"
    assert nearest_key("trainer.max_steps", tree) is None  # exists
    assert nearest_key("trainer.zzz", tree) is None


def test_override_problems_name_the_nearest_key() -> None:
    assert override_problems("train", ["stage=joint", "trainer.max_steps=3"]) == []
    (problem,) = override_problems("train", ["trainer.max_epoch=1", "--cfg", "job"])
    assert problem == "no config key 'trainer.max_epoch' (did you mean 'trainer.max_epochs'?)"
    # keys that only a chosen group brings exist once that group is chosen
    assert (
        override_problems("train", ["model=tompson2014", "model.part_detector.head_kernel=1"]) == []
    )
    (problem,) = override_problems("train", ["~callbacks.visualis"])
    assert "callbacks.visualise" in problem
    assert override_problems("train", ["+trainer.max_epoch=1"]) == []  # adding is checked later
    assert override_problems("eval", ["data.source.tst_size=50", "data=lspet"]) == [
        "no config key 'data.source.tst_size' (did you mean 'data.source.test_size'?)"
    ]


def test_unknown_trainer_arguments() -> None:
    cfg = {"_target_": "lightning.pytorch.trainer.Trainer", "max_epoch": 1, "max_steps": 4}
    assert trainer_key_problems(cfg) == [
        "trainer.max_epoch is not an argument of the Lightning Trainer "
        "(did you mean 'trainer.max_epochs'?)"
    ]
    del cfg["max_epoch"]
    assert trainer_key_problems(cfg) == []
