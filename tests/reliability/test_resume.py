"""Kill a real tiny training run, resume it, and get exactly the uninterrupted run's results.

Four ``posehybrid.train`` processes start side by side (one thread each): two uninterrupted
runs with the same seed (determinism), one SIGKILLed and one SIGTERMed right after their first
checkpoint. The two interrupted runs are then resumed with ``resume=auto``.
"""

from __future__ import annotations

import csv
import json
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from posehybrid.utils.checkpoint import load_checkpoint
from tests.reliability.conftest import TINY, env_for, paths, start, wait_for

TIMEOUT = 240
STAGE = "part_detector"


def args_for(home: Path, name: str, **changes: str) -> list[str]:
    """TINY with ``changes`` (key -> value) replacing or adding overrides."""
    out = [a for a in TINY if a.split("=", 1)[0].lstrip("+~") not in changes]
    return [*out, *paths(home), f"name={name}", *(f"{k}={v}" for k, v in changes.items())]


def runs(home: Path, name: str) -> list[Path]:
    return sorted((home / "outputs" / name / STAGE).glob("*/"), key=lambda p: p.name)


def last_ckpt(home: Path, name: str) -> Path | None:
    found = sorted((home / "outputs" / name / STAGE).glob("*/checkpoints/last.ckpt"))
    return found[0] if found else None


def finish(proc, log: Path, expect: int = 0) -> str:
    rc = proc.wait(timeout=TIMEOUT)
    text = log.read_text(errors="replace")
    assert rc == expect, f"exit {rc}, expected {expect}:\n{text[-5000:]}"
    return text


@pytest.fixture(scope="session")
def killed_and_resumed(reliability_home: Path) -> dict[str, Any]:
    home = reliability_home
    env = env_for(home)
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    procs = {
        "ref": start(args_for(home, "ref"), env, logs / "ref.txt"),
        "det": start(args_for(home, "det"), env, logs / "det.txt"),
        "killed": start(args_for(home, "killed"), env, logs / "killed.txt"),
        "term": start(args_for(home, "term", logger="wandb"), env, logs / "term.txt"),
    }
    out: dict[str, Any] = {"home": home}
    for name, sig in (("killed", signal.SIGKILL), ("term", signal.SIGTERM)):
        wait_for(lambda n=name: last_ckpt(home, n) is not None, procs[name], TIMEOUT)
        procs[name].send_signal(sig)
    out["killed_rc"] = procs["killed"].wait(timeout=TIMEOUT)
    out["term_log"] = finish(procs["term"], logs / "term.txt", expect=143)
    for name in ("killed", "term"):  # what the interrupted runs left behind
        (run,) = runs(home, name)
        out[f"{name}_run"] = run
        out[f"{name}_step"] = load_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"]
        out[f"{name}_had_metrics"] = (run / "metrics.json").exists()
    resumed = {
        "killed": start(args_for(home, "killed", resume="auto", logger="csv"), env,
                        logs / "killed2.txt"),
        "term": start(args_for(home, "term", resume="auto", logger="wandb"), env,
                      logs / "term2.txt"),
    }  # fmt: skip
    for name in ("ref", "det"):
        finish(procs[name], logs / f"{name}.txt")
    for name, proc in resumed.items():
        out[f"{name}_resumed_log"] = finish(proc, logs / f"{name}2.txt")
    return out


def metrics(run: Path) -> dict[str, Any]:
    return json.loads((run / "metrics.json").read_text())


def numbers(m: dict[str, Any]) -> dict[str, float]:
    """Every test metric as a flat {path: value} (None -> nan)."""
    flat: dict[str, float] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}/{k}", v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(f"{prefix}/{i}", v)
        elif value is None or isinstance(value, (int, float)):
            flat[prefix] = float("nan") if value is None else float(value)

    for key in ("pck@0.1", "pck@0.2", "parts@0.2", "joints@0.2", "pcp", "curve"):
        if key in m:
            walk(key, m[key])
    return flat


def assert_same_results(a: Path, b: Path, atol: float = 1e-6) -> None:
    ma, mb = numbers(metrics(a)), numbers(metrics(b))
    assert ma.keys() == mb.keys() and len(ma) > 20
    for key, value in ma.items():
        assert mb[key] == pytest.approx(value, abs=atol, nan_ok=True), key
    wa = load_checkpoint(a / "checkpoints" / "last.ckpt")
    wb = load_checkpoint(b / "checkpoints" / "last.ckpt")
    assert wa["global_step"] == wb["global_step"] == 6  # 3 epochs x 2 batches
    for key, tensor in wa["state_dict"].items():
        torch.testing.assert_close(wb["state_dict"][key], tensor, rtol=0, atol=atol)


def test_same_seed_gives_identical_runs(killed_and_resumed: dict[str, Any]) -> None:
    home = killed_and_resumed["home"]
    (ref,), (det,) = runs(home, "ref"), runs(home, "det")
    assert_same_results(ref, det, atol=0.0)  # bit for bit on CPU, deterministic mode


def test_sigkill_then_resume_auto_equals_the_uninterrupted_run(killed_and_resumed) -> None:
    out = killed_and_resumed
    home = out["home"]
    assert out["killed_rc"] == -signal.SIGKILL
    assert not out["killed_had_metrics"]  # it really died mid-training ...
    assert out["killed_step"] in (2, 4)  # ... after its first end-of-epoch checkpoint
    first, resumed = runs(home, "killed")
    assert first == out["killed_run"]
    m = metrics(resumed)
    assert m["resumed_from"] == str(first / "checkpoints" / "last.ckpt")
    assert "Restored all states from the checkpoint" in out["killed_resumed_log"]
    # The global step continues: the resumed run trained and logged the later epochs only.
    with open(resumed / "csv" / "metrics.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("train/loss_epoch")]
    assert [int(r["epoch"]) for r in rows] == list(range(out["killed_step"] // 2, 3))
    assert [int(r["step"]) for r in rows] == list(range(out["killed_step"] + 1, 7, 2))
    (ref,) = runs(home, "ref")
    assert_same_results(ref, resumed)
    assert m["best_checkpoint"].startswith(str(resumed))  # the best was carried over
    assert (first / "resumed_by.txt").read_text().strip() == str(resumed.resolve())


def test_sigterm_saves_a_checkpoint_exits_143_and_resumes_exactly(killed_and_resumed) -> None:
    out = killed_and_resumed
    home = out["home"]
    assert "stopped by a signal at global step" in out["term_log"]
    assert "Rerun with resume=auto" in out["term_log"]
    assert not out["term_had_metrics"]
    # saved where it stopped: after the first epoch (2 steps), before the end (6)
    assert 2 <= out["term_step"] < 6
    first, resumed = runs(home, "term")
    assert metrics(resumed)["resumed_from"] == str(first / "checkpoints" / "last.ckpt")
    (ref,) = runs(home, "ref")
    assert_same_results(ref, resumed)
    # W&B continues the same run id
    run_id = (first / "wandb_id.txt").read_text().strip()
    assert run_id and (resumed / "wandb_id.txt").read_text().strip() == run_id
    assert run_id in out["term_resumed_log"] or any((resumed / "wandb").glob(f"*{run_id}*"))
    # posehybrid says once that the data replays exactly (Lightning's contrary warning is gone)
    assert out["term_resumed_log"].count("the training data continues exactly") == 1


def test_resume_auto_skips_finished_and_continued_runs(killed_and_resumed, tmp_path) -> None:
    from omegaconf import OmegaConf

    from posehybrid.training import resume_path

    home = killed_and_resumed["home"]
    for name in ("killed", "term", "ref"):
        cfg = OmegaConf.create({"resume": "auto", "ckpt_path": None, "stage": {"name": STAGE},
                                "paths": {"experiment_dir": str(home / "outputs" / name)}})  # fmt: skip
        assert resume_path(cfg, tmp_path) is None  # all finished or continued: start fresh


def test_runs_write_only_into_their_run_directories(killed_and_resumed) -> None:
    """Outputs go to <log_dir>/<experiment>/<stage>/<run>/, data to the data cache; nothing
    lands in the working directory (the repository) or elsewhere in the log directory."""
    from tests.reliability.conftest import REPO

    home = killed_and_resumed["home"]
    for name in ("ref", "det", "killed", "term"):
        # the stage's runs, and the experiment's one W&B directory for the W&B-logged run
        expected = [STAGE, "wandb"] if name == "term" else [STAGE]
        assert sorted(p.name for p in (home / "outputs" / name).iterdir()) == expected
        assert not (REPO / "outputs" / name).exists()
        for run in runs(home, name):
            assert {p.name for p in run.iterdir()} <= {
                ".hydra", "checkpoints", "train.log", "metrics.json", "test_per_image.json",
                "data.json", "csv", "wandb", "wandb_id.txt", "resumed_by.txt",
                "run.lock",  # run.lock: left by SIGKILL
            }  # fmt: skip
            assert (run / "run.lock").exists() == (run == killed_and_resumed["killed_run"])
    assert {p.name for p in (home / "data").iterdir()} == {"synthetic"}
    assert not (REPO / "lightning_logs").exists() and not (REPO / "wandb").exists()
