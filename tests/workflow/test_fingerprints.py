"""Upstream runs must match the data: every run records its data's fingerprint, the upstream
lookup takes only runs trained on the same data, and the ablation table refuses to put rows
from different test sets side by side."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from posehybrid.ablation_run import check_same_data
from posehybrid.pipeline import DataMismatchError, matching_run
from posehybrid.provenance import data_identity, fingerprint
from tests.workflow.conftest import REPO, TINY, TinyPipeline, train


def _data(*overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("train", overrides=[f"paths.root_dir={REPO}", *overrides]).data


def _print(*overrides: str) -> str:
    return fingerprint(data_identity(_data(*overrides)))


def test_fingerprint_follows_the_data_not_the_loader() -> None:
    base = _print()
    assert base == _print()  # a pure function of the config
    # what decides the images of each split changes it
    assert _print("data.n_images=200") != base
    assert _print("data.source.seed=1") != base
    assert _print("data.val_size=20") != base
    assert _print("data=lspet", "data.root=/x") != _print("data=lspet", "data.root=/y")
    assert _print("data=lspet", "data.source.test_size=50") != _print("data=lspet")
    # how the images are loaded, batched or augmented does not
    for same in ("data.batch_size=32", "data.num_workers=0", "data.augment.enabled=false",
                 "data.cache_images=false", "model=tompson2014"):  # fmt: skip
        assert _print(same) == base, same
    # a generated set's root is only its cache: the generator's parameters are the data
    assert _print("paths.data_dir=/elsewhere") == base


def test_each_cross_validation_fold_is_other_data() -> None:
    base = _print()
    # off (the default): no cross-validation keys in the identity, so runs trained before the
    # keys existed keep their fingerprints and their upstream checkpoints keep matching
    assert not {"cv_folds", "cv_fold"} & set(data_identity(_data()))
    assert _print("data.cv_fold=2") == base  # cv_fold alone, with cv_folds off, changes nothing
    folds = {_print("data.cv_folds=3", f"data.cv_fold={k}") for k in range(3)}
    assert len(folds) == 3 and base not in folds
    assert _print("data.cv_folds=4", "data.cv_fold=0") not in folds


def test_a_training_subset_is_other_data() -> None:
    base = _print()
    assert "train_size" not in data_identity(_data())  # every record: the print of before
    assert _print("data.train_size=135") not in (base, _print("data.train_size=136"))


def test_relative_roots_are_made_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    identity = data_identity(_data("data=lspet", "data.root=rel/lspet"))
    assert identity["root"] == str(tmp_path / "rel" / "lspet")


def _finished(experiment: Path, stage: str, name: str, data_print: str | None) -> Path:
    run = experiment / stage / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.ckpt").write_bytes(b"")
    metrics = {"stage": stage} if data_print is None else {"data_fingerprint": data_print}
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def test_matching_run_takes_the_newest_run_on_the_same_data(tmp_path: Path) -> None:
    old = _finished(tmp_path, "part_detector", "2026-01-01_00-00-00", "aaaa")
    _finished(tmp_path, "part_detector", "2026-01-02_00-00-00", None)  # no fingerprint
    newest_other = _finished(tmp_path, "part_detector", "2026-01-03_00-00-00", "bbbb")
    run, others = matching_run(tmp_path, "part_detector", "aaaa")
    assert run == old and others[0][0] == newest_other and len(others) == 2
    run, others = matching_run(tmp_path, "part_detector", "cccc")
    assert run is None and len(others) == 3


def test_ablation_refuses_rows_from_different_data() -> None:
    check_same_data([("part_detector", {"data_fingerprint": "a"}),
                     ("joint", {"data_fingerprint": "a"})])  # fmt: skip
    with pytest.raises(DataMismatchError, match=r"part_detector a, .*joint b"):
        check_same_data([("part_detector", {"data_fingerprint": "a"}),
                         ("spatial", {"data_fingerprint": "a"}),
                         ("joint", {"data_fingerprint": "b"})])  # fmt: skip


def test_runs_and_checkpoints_record_the_fingerprint(tiny_pipeline: TinyPipeline) -> None:
    prints = set()
    for stage in ("part_detector", "spatial", "joint"):
        run = tiny_pipeline.run(stage)
        metrics = json.loads((run / "metrics.json").read_text())
        ckpt = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True, map_location="cpu")
        data = ckpt["posehybrid"]["data"]
        assert data["fingerprint"] == metrics["data_fingerprint"] == fingerprint(data["identity"])
        prints.add(metrics["data_fingerprint"])
    assert len(prints) == 1


def test_upstream_on_other_data_is_never_taken(tiny_pipeline: TinyPipeline, tmp_path: Path) -> None:
    """The session's tiny experiment has a detector trained on 32 synthetic images. A spatial
    run on 40 images must not take it: with auto_upstream=false it fails in one line naming
    both fingerprints."""
    log_dir = tmp_path / "outputs"
    shutil.copytree(tiny_pipeline.experiment_dir, log_dir / "tiny")
    detector = json.loads((tiny_pipeline.run("part_detector") / "metrics.json").read_text())
    args = ["stage=spatial", "name=tiny", "logger=none", *TINY, "data.n_images=40",
            "auto_upstream=false", *tiny_pipeline.paths(log_dir)]  # fmt: skip
    proc = train(args, tiny_pipeline.env, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("train: error:")]
    assert detector["data_fingerprint"] in line and "n_images 32 -> 40" in line
    assert _print("data.n_images=40", f"paths.data_dir={tiny_pipeline.data_dir}") in line
    assert not list((log_dir / "tiny" / "spatial").glob("*/metrics.json"))[1:]  # none added
