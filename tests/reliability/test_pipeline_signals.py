"""A stage that trains its missing upstream stage in a child process passes SIGTERM on to the
child and waits for it; ``resume=auto`` refuses a run that is still alive; the rerun continues
the interrupted upstream run and ends exactly like the uninterrupted pipeline."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from posehybrid.utils.checkpoint import load_checkpoint
from tests.reliability.conftest import (
    env_for,
    metrics,
    run_train_inprocess,
    stage_args,
    stage_runs,
    start,
    wait_for,
)
from tests.reliability.test_resume import assert_same_results


def _trained(home: Path, name: str, stage: str) -> list[Path]:
    """The runs that got as far as a checkpoint (not the refused resume attempt)."""
    return [r for r in stage_runs(home, name, stage) if (r / "checkpoints").is_dir()]


def _alive(pid: int) -> bool:
    """A running (not zombie) process ``pid``."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_sigterm_reaches_the_upstream_child_and_the_rerun_continues_it(
    references, reliability_home: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    home, name = reliability_home, "forwarded"
    spatial = stage_args(home, "spatial", name, {})  # no stage.init: trains the detector first
    marker = tmp_path / "held"
    hold = [  # inherited by the detector child: it waits at step 2 for a signal
        "+callbacks.hold._target_=tests.reliability.interrupt.Hold",
        f"+callbacks.hold.marker={marker}",
        "+callbacks.hold.step=2",
    ]
    log = tmp_path / "parent.txt"
    parent = start([*spatial, *hold], env_for(home), log)
    child = 0
    try:
        wait_for(marker.exists, parent, 300)
        child = int(marker.read_text())
        assert child != parent.pid and _alive(child)
        # The detector run is alive (it saved last.ckpt at step 2): not to be continued twice.
        detector = stage_args(home, "part_detector", name, {})
        code, err = run_train_inprocess([*detector, "resume=auto"], monkeypatch, capsys)
        lines = [line for line in err.splitlines() if line.startswith("train:")]
        assert code == 2 and len(lines) == 1, err[-3000:]
        assert f"is still running (pid {child} on " in lines[0], lines[0]
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=300) == 143, log.read_text()[-3000:]
        assert not _alive(child)  # it got the signal, and the parent waited for it
    finally:
        for pid in (child, parent.pid):
            if pid and _alive(pid):
                os.kill(pid, signal.SIGKILL)
    text = log.read_text()
    assert "stopped by a signal at global step 3" in text  # the child saved where it stopped
    assert "stopped by SIGTERM while training upstream stage 'part_detector'" in text
    (first,) = _trained(home, name, "part_detector")
    assert not (first / "metrics.json").exists()
    assert load_checkpoint(first / "checkpoints" / "last.ckpt")["global_step"] == 3

    # The rerun passes resume=auto on: the detector continues, then the spatial stage trains.
    code, err = run_train_inprocess([*spatial, "resume=auto"], monkeypatch, capsys)
    assert code == 0, err[-3000:]
    first_again, resumed = _trained(home, name, "part_detector")
    assert first_again == first
    assert metrics(resumed)["resumed_from"] == str(first / "checkpoints" / "last.ckpt")
    assert_same_results(references["part_detector"], resumed, atol=0.0)
    (done,) = [r for r in stage_runs(home, name, "spatial") if (r / "metrics.json").exists()]
    assert_same_results(references["spatial"], done, atol=0.0)
