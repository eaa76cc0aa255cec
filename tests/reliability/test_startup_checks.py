"""Every checkpoint a run will need is checked at start-up, before the data is prepared: the
best checkpoint that a resume copies and finally tests (issue 18, failure 3), and the model
config stored in a resumed or upstream checkpoint (failure 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.conftest import (
    TINY,
    interrupt,
    paths,
    run_train_inprocess,
    stage_args,
    stage_runs,
)

INTERRUPT = interrupt("train", "SIGTERM", 2)  # stops at step 3, after the best of step 2


def _lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("train:")]


def test_a_corrupt_best_checkpoint_fails_the_resume_at_start_up(
    reliability_home: Path, monkeypatch, capsys
) -> None:
    home = reliability_home
    args = [*TINY, *paths(home), "name=corrupt_best"]
    code, err = run_train_inprocess([*args, *INTERRUPT], monkeypatch, capsys)
    assert code == 143, err[-3000:]
    (run,) = stage_runs(home, "corrupt_best", "part_detector")
    best = run / "checkpoints" / "best.ckpt"
    best.write_bytes(best.read_bytes()[:1000])  # truncated, as by a kill during a copy
    for _ in range(2):  # a retry meets the same error: no continuation got a last.ckpt
        code, err = run_train_inprocess([*args, "resume=auto"], monkeypatch, capsys)
        lines = _lines(err)
        assert code == 2 and len(lines) == 1, err[-3000:]
        assert f"checkpoint {best}:" in lines[0] and "truncated" in lines[0], lines[0]
        assert "best checkpoint" in lines[0] and "Traceback" not in err
    runs = stage_runs(home, "corrupt_best", "part_detector")
    assert len(runs) == 3 and not any((r / "checkpoints").exists() for r in runs[1:])
    best.unlink()  # a missing best is named as well
    code, err = run_train_inprocess([*args, "resume=auto"], monkeypatch, capsys)
    assert code == 2 and f"checkpoint {best}: missing" in _lines(err)[0], err[-3000:]


@pytest.mark.parametrize(
    ("stage", "how", "override", "named"),
    [
        ("joint", "init", "model.spatial_graph.mode=full", "model.spatial_graph.mode"),
        ("spatial", "resume", "model.spatial.kernel_size=31", "model.spatial.kernel_size"),
        ("spatial", "init", "model.part_detector.wide_channels=32",
         "model.part_detector.wide_channels"),
    ],
    ids=["joint-from-spatial-graph", "spatial-resume-kernel", "spatial-from-detector-width"],
)  # fmt: skip
def test_a_different_model_config_is_named_before_the_data_is_prepared(
    stage: str, how: str, override: str, named: str, references, reliability_home: Path,
    tmp_path: Path, monkeypatch, capsys,
) -> None:  # fmt: skip
    init = {s: references[s] / "checkpoints" / "best.ckpt" for s in references}
    data_dir = tmp_path / "data"  # a fresh data directory: it must stay unmade
    args = [a for a in stage_args(reliability_home, stage, "model_mismatch", init)
            if not a.startswith(("paths.data_dir=", override.split("=")[0] + "="))]  # fmt: skip
    args += [override, f"paths.data_dir={data_dir}"]
    if how == "resume":
        args.append(f"ckpt_path={references[stage] / 'checkpoints' / 'last.ckpt'}")
    code, err = run_train_inprocess(args, monkeypatch, capsys)
    lines = _lines(err)
    assert code == 2 and len(lines) == 1, err[-3000:]
    assert "its model config differs" in lines[0] and named in lines[0], lines[0]
    assert f"requested {override.split('=')[1]})" in lines[0].replace("'", ""), lines[0]
    assert "size mismatch" not in err and "Traceback" not in err
    assert not data_dir.exists()  # refused before any data was prepared
