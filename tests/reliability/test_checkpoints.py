"""Checkpoints: safe loading (no code runs on unpickling), clear errors for corrupt, foreign,
wrong-stage and wrong-joint-set files, on every path that loads one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from posehybrid.utils.checkpoint import (
    CheckpointError,
    SafeCheckpointIO,
    expect_checkpoint,
    load_checkpoint,
)
from tests.reliability.conftest import TINY, paths, run_train_inprocess

PACKAGE = Path(__file__).resolve().parents[2] / "posehybrid"


class Payload:
    """Unpickling this calls ``open(marker, "w")``: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def fake_checkpoint(path: Path, stage: str = "part_detector", joint_set: str = "lsp") -> Path:
    """A posehybrid-shaped checkpoint (only tensors and plain containers)."""
    info = {"stage": stage, "joint_set": joint_set, "init_kwargs": {}}
    torch.save({"state_dict": {"w": torch.arange(1000.0)}, "posehybrid": info}, path)
    return path


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    """(malicious checkpoint, marker its payload creates); the payload is shown to be live."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    info = {"stage": "part_detector", "joint_set": "lsp", "init_kwargs": {}}
    torch.save({"state_dict": {}, "posehybrid": info, "x": Payload(marker)}, path)
    torch.load(path, weights_only=False)  # what Lightning 2.6 does by default
    assert marker.exists(), "the payload must really run when unpickled unsafely"
    marker.unlink()
    return path, marker


def test_load_checkpoint_refuses_code(evil: tuple[Path, Path]) -> None:
    path, marker = evil
    with pytest.raises(CheckpointError, match="refused") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "weights_only" in str(err.value)
    with pytest.raises(CheckpointError):
        SafeCheckpointIO().load_checkpoint(path)
    from posehybrid.modules.load import load_module  # eval, predict and export load through it

    with pytest.raises(CheckpointError):
        load_module(path)
    assert not marker.exists()


def test_lightning_fit_and_test_refuse_code(evil: tuple[Path, Path], tmp_path: Path) -> None:
    """Lightning's own loads (resume, test of a checkpoint) go through SafeCheckpointIO."""
    from tests.reliability.toy import ToyDataModule, ToyModule, toy_trainer

    path, marker = evil
    with pytest.raises(CheckpointError, match="refused"):
        toy_trainer(tmp_path / "a").fit(ToyModule(), datamodule=ToyDataModule(), ckpt_path=path)
    with pytest.raises(CheckpointError, match="refused"):
        toy_trainer(tmp_path / "b").test(ToyModule(), datamodule=ToyDataModule(), ckpt_path=path)
    assert not marker.exists()


def test_train_cli_refuses_code(evil, reliability_home: Path, monkeypatch, capsys) -> None:
    path, marker = evil
    for args in (
        [f"ckpt_path={path}"],  # resume
        ["stage=spatial", f"stage.init.part_detector={path}"],  # an upstream checkpoint
    ):
        code, err = run_train_inprocess(
            [*TINY, *paths(reliability_home), *args], monkeypatch, capsys
        )
        lines = [line for line in err.splitlines() if line.startswith("train:")]
        assert code == 2 and len(lines) == 1, err
        assert "refused" in lines[0] and str(path) in lines[0] and "Traceback" not in err
        assert not marker.exists()


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99])
def test_truncated_checkpoint_names_the_file(tmp_path: Path, keep: float) -> None:
    path = fake_checkpoint(tmp_path / "last.ckpt")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="truncated or not a checkpoint") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    text = tmp_path / "notes.ckpt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(text)
    # the unpickler's own error on such bytes is a bare opcode number (KeyError: 101): the
    # message must not end with it
    text.write_text("hello world\n")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(text)
    assert str(err.value).endswith("(truncated or not a checkpoint file)"), str(err.value)
    plain = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), plain)  # loads safely but is no Lightning checkpoint
    with pytest.raises(CheckpointError, match="state_dict"):
        load_checkpoint(plain)
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, other)  # Lightning, but not posehybrid
    with pytest.raises(CheckpointError, match="not a posehybrid checkpoint"):
        expect_checkpoint(other, ("part_detector",))
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_wrong_stage_and_joint_set(tmp_path: Path) -> None:
    spatial = fake_checkpoint(tmp_path / "s.ckpt", stage="spatial")
    with pytest.raises(CheckpointError, match=r"from stage 'spatial', expected one of \['part"):
        expect_checkpoint(spatial, ("part_detector",), "lsp")
    flic = fake_checkpoint(tmp_path / "f.ckpt", joint_set="flic")
    with pytest.raises(CheckpointError, match="joint set 'flic', but the data uses 'lsp'"):
        expect_checkpoint(flic, ("part_detector",), "lsp")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["stage=spatial", "ckpt_path={pd}"], "from stage 'part_detector', expected one of ['spatial']"),
        (["ckpt_path={flic}"], "joint set 'flic', but the data uses 'lsp'"),  # FLIC on LSP data
        (["stage=spatial", "stage.init.part_detector={flic}"], "joint set 'flic'"),
        (["stage=spatial", "stage.init.part_detector={sp}"], "from stage 'spatial'"),
        (["ckpt_path={cut}"], "truncated or not a checkpoint"),
        (["ckpt_path={txt}"], "not a readable PyTorch checkpoint"),
        (["ckpt_path={missing}"], "no such checkpoint file"),
    ],
)  # fmt: skip
def test_train_cli_checkpoint_errors(
    args: list[str], fragment: str, tmp_path: Path, reliability_home: Path, monkeypatch, capsys
) -> None:
    files = {
        "pd": fake_checkpoint(tmp_path / "pd.ckpt"),
        "sp": fake_checkpoint(tmp_path / "sp.ckpt", stage="spatial"),
        "flic": fake_checkpoint(tmp_path / "flic.ckpt", joint_set="flic"),
        "cut": fake_checkpoint(tmp_path / "cut.ckpt"),
        "txt": tmp_path / "notes.txt",
        "missing": tmp_path / "missing.ckpt",
    }
    files["cut"].write_bytes(files["cut"].read_bytes()[:300])
    files["txt"].write_text("not a checkpoint")
    args = [a.format(**files) for a in args]
    code, err = run_train_inprocess([*TINY, *paths(reliability_home), *args], monkeypatch, capsys)
    lines = [line for line in err.splitlines() if line.startswith("train:")]
    assert code == 2 and len(lines) == 1, err
    assert fragment in lines[0] and "Traceback" not in err
    named = next(a.split("=", 1)[1] for a in args if "ckpt" in a or "init" in a)
    assert Path(named).name in lines[0]  # the file is named (resolved)


def test_trainer_config_loads_safely() -> None:
    """Every Trainer the configs build carries SafeCheckpointIO."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(PACKAGE.parent / "conf"), version_base="1.3"):
        for trainer in ("default", "cpu", "gpu", "ddp"):
            cfg = compose("train", overrides=[f"trainer={trainer}", "paths.root_dir=/tmp"])
            targets = [p["_target_"] for p in cfg.trainer.plugins]
            assert "posehybrid.utils.checkpoint.SafeCheckpointIO" in targets, trainer
        for trainer in ("default", "cpu"):
            cfg = compose("train", overrides=[f"trainer={trainer}", "paths.root_dir=/tmp"])
            kwargs = {"logger": False, "enable_progress_bar": False, "default_root_dir": "/tmp"}
            built = instantiate(cfg.trainer, **kwargs)
            assert isinstance(built.strategy.checkpoint_io, SafeCheckpointIO)


# ------------------------------------------------------------------------ source scan
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}
UNSAFE_ATTRS = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"),
                ("marshal", "loads"), ("dill", "load"), ("joblib", "load"), ("yaml", "load"),
                ("yaml", "unsafe_load"), ("shelve", "open")}  # fmt: skip


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_no_eval_exec_or_unpickling_of_data_in_the_package() -> None:
    """No eval/exec/pickle of data files; torch.load only in utils/checkpoint.py with
    weights_only=True; np.load never with allow_pickle=True."""
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = path.relative_to(PACKAGE.parent)
        for call in _calls(tree):
            f = call.func
            kwargs = {k.arg: k.value for k in call.keywords}
            if isinstance(f, ast.Name) and f.id in UNSAFE_CALLS:
                problems.append(f"{rel}:{call.lineno}: {f.id}()")
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                pair = (f.value.id, f.attr)
                if pair in UNSAFE_ATTRS:
                    problems.append(f"{rel}:{call.lineno}: {f.value.id}.{f.attr}()")
                if pair == ("torch", "load"):
                    safe = isinstance(kwargs.get("weights_only"), ast.Constant) and (
                        kwargs["weights_only"].value is True
                    )
                    if not safe or rel.as_posix() != "posehybrid/utils/checkpoint.py":
                        problems.append(f"{rel}:{call.lineno}: torch.load outside load_checkpoint")
                if pair == ("np", "load") and "allow_pickle" in kwargs:
                    problems.append(f"{rel}:{call.lineno}: np.load(allow_pickle=...)")
            if isinstance(f, ast.Attribute) and f.attr == "load_from_checkpoint":
                problems.append(f"{rel}:{call.lineno}: Lightning load_from_checkpoint")
    assert problems == []


def test_the_scan_catches_what_it_looks_for(tmp_path: Path) -> None:
    code = "import pickle, torch\npickle.load(f)\ntorch.load(p)\neval('1')\n"
    found = [c for c in _calls(ast.parse(code))]
    assert len(found) == 3


def test_user_given_paths_are_resolved_and_reported(
    tmp_path: Path, reliability_home: Path, monkeypatch, capsys
) -> None:
    fake_checkpoint(tmp_path / "flic.ckpt", joint_set="flic")
    monkeypatch.chdir(tmp_path)
    for args in (
        ["ckpt_path=flic.ckpt"],
        ["stage=spatial", "stage.init.part_detector=./flic.ckpt"],
    ):
        code, err = run_train_inprocess(
            [*TINY, *paths(reliability_home), *args], monkeypatch, capsys
        )
        lines = [line for line in err.splitlines() if line.startswith("train:")]
        assert code == 2 and f"checkpoint {tmp_path / 'flic.ckpt'}:" in lines[0], err
