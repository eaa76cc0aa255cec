"""Interrupt every stage at a training batch, inside a validation and inside the test, with
SIGTERM, SIGUSR1 or SIGKILL, resume with ``resume=auto``, and get the uninterrupted run's
results bit for bit.

One reference run per stage (the spatial stage starts from the reference detector, the joint
stage from the reference spatial run), then one interrupted + resumed pair per cell. A signal
is sent by the run to itself at an exact point (``tests/reliability/interrupt.py``), so the
cells do not depend on timing. TERM/USR1 runs are in-process (no import cost); SIGKILL needs a
process of its own. 6 steps per stage: 2 batches of 4 per epoch, 3 epochs, a validation of 2
batches after every epoch (steps 2, 4, 6), a test of 4 batches.
"""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import pytest

from posehybrid.utils.checkpoint import load_checkpoint
from tests.reliability.conftest import (
    STAGES,
    env_for,
    interrupt,
    metrics,
    run_train_inprocess,
    stage_args,
    stage_runs,
    start,
)
from tests.reliability.test_resume import assert_same_results

# point -> (where the signal lands, the step of last.ckpt after SIGTERM/USR1, after SIGKILL)
POINTS = {
    "train": (2, 3, 2),  # during batch 0 of epoch 1: stops before batch 1, mid-epoch
    "validation": (4, 4, 2),  # after val batch 0 of 2: the validation finishes first
    "test": (0, 6, 6),  # after test batch 0 of 4: nothing to save, the test reruns
}


def validations(*runs: Path) -> dict[int, dict[str, str]]:
    """Every validation the runs logged (csv), by logging step; a step logged by two runs (a
    validation redone after a SIGKILL) must carry the same values in both."""
    out: dict[int, dict[str, str]] = {}
    for run in runs:
        with open(run / "csv" / "metrics.csv") as fh:
            for row in csv.DictReader(fh):
                if row.get("val/loss"):
                    values = {k: v for k, v in row.items() if k.startswith("val/")}
                    assert out.setdefault(int(row["step"]), values) == values, run
    return out


CELLS = [
    ("part_detector", "train", "SIGUSR1"),
    ("part_detector", "validation", "SIGTERM"),
    ("part_detector", "test", "SIGTERM"),
    ("spatial", "train", "SIGTERM"),
    ("spatial", "validation", "SIGUSR1"),
    ("spatial", "validation", "SIGKILL"),
    ("joint", "train", "SIGUSR1"),
    ("joint", "validation", "SIGTERM"),
    ("joint", "test", "SIGKILL"),
]


@pytest.mark.parametrize(("stage", "point", "sig"), CELLS, ids=["-".join(c) for c in CELLS])
def test_interrupted_and_resumed_equals_uninterrupted(
    stage: str, point: str, sig: str, references, reliability_home: Path, monkeypatch, capsys
) -> None:
    home = reliability_home
    name = f"m_{stage}_{point}_{sig}"
    init = {s: references[s] / "checkpoints" / "best.ckpt" for s in STAGES}
    where, saved_on_signal, saved_on_kill = POINTS[point]
    args = stage_args(home, stage, name, init)
    stop = interrupt(point, sig, where)
    if sig == "SIGKILL":  # the process dies on the spot: it needs one of its own
        log = home / f"{name}.txt"
        proc = start([*args, *stop], env_for(home), log)
        assert proc.wait(timeout=300) == -signal.SIGKILL, log.read_text()[-3000:]
        expected = saved_on_kill
    else:
        code, err = run_train_inprocess([*args, *stop], monkeypatch, capsys)
        assert code == 143, err[-3000:]
        if point != "test":  # a signal during the test has no training state to save
            assert "stopped by a signal at global step" in err
        expected = saved_on_signal
    (first,) = stage_runs(home, name, stage)
    assert not (first / "metrics.json").exists()  # it really stopped before the end
    assert load_checkpoint(first / "checkpoints" / "last.ckpt")["global_step"] == expected

    code, err = run_train_inprocess([*args, "resume=auto"], monkeypatch, capsys)
    assert code == 0, err[-3000:]
    first_again, resumed = stage_runs(home, name, stage)
    assert first_again == first
    m = metrics(resumed)
    assert m["resumed_from"] == str(first / "checkpoints" / "last.ckpt")
    assert_same_results(references[stage], resumed, atol=0.0)  # bit for bit
    # Every validation ran in full, once, at its step, with the reference's values: none was
    # cut short by the signal or redone over part of the validation set on resume.
    assert validations(first, resumed) == validations(references[stage])
    best, ref_best = (load_checkpoint(r / "checkpoints" / "best.ckpt") for r in (resumed, references[stage]))  # fmt: skip
    assert best["global_step"] == ref_best["global_step"]  # the same checkpoint was tested
    # Both parts of the run are counted: the control row's budget reads the sum.
    assert len(m["minutes_parts"]) == 2 and all(p > 0 for p in m["minutes_parts"])
    assert m["minutes"] == pytest.approx(sum(m["minutes_parts"]))
    if stage != "part_detector":  # the initial priors, not the resumed kernels
        ref_png = (references[stage] / "priors_init.png").read_bytes()
        assert (resumed / "priors_init.png").read_bytes() == ref_png
        assert (first / "priors_init.png").read_bytes() == ref_png
