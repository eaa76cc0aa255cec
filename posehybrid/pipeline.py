"""The three-stage pipeline's upstream resolution (like ``make`` prerequisites): a stage finds or
trains the runs it starts from. The ablation table after the last stage is ``ablation_run``.

Upstream stages run as their own ``python -m posehybrid.train`` processes, so each one gets its
own Hydra run directory and its own W&B run in the experiment's group. A SIGTERM/SIGUSR1 to this
process is passed on to such a child, which checkpoints; this process waits for it and exits
143, and ``resume=auto`` is passed on, so the rerun continues the child's run.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from posehybrid.provenance import data_identity, fingerprint, identity_differences
from posehybrid.utils.runs import (
    finished_runs,
    read_metrics,
    run_checkpoint,
    run_dir_of,
)

log = logging.getLogger(__name__)


class UpstreamError(RuntimeError):
    """An upstream stage's training process failed (its own error is on stderr above)."""


class DataMismatchError(ValueError):
    """Runs that would be combined were trained or tested on different data."""


class UpstreamStopped(SystemExit):
    """This process was told to stop (SIGTERM/SIGUSR1) while an upstream stage trained in a
    child process: the signal was passed on, the child saved its checkpoint and ended."""


# Signals passed on to an upstream child: the pre-emption signals (SIGINT from a terminal
# reaches the whole process group by itself).
FORWARDED = (signal.SIGTERM, signal.SIGUSR1)


def run_forwarding(cmd: list[str]) -> tuple[int, int | None]:
    """Run ``cmd``; a SIGTERM/SIGUSR1 to this process goes to the child, and this process
    waits for the child to end (it checkpoints and exits). Returns (exit code, signal)."""
    proc = subprocess.Popen(cmd)
    received: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        proc.send_signal(signum)

    previous = {}
    for sig in FORWARDED:
        with contextlib.suppress(ValueError):  # not the main thread: cannot route signals
            previous[sig] = signal.signal(sig, forward)
    try:
        code = proc.wait()
    except BaseException:
        proc.terminate()  # never leave a child training on its own
        proc.wait()
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code, (received[0] if received else None)


# Overrides that belong to the downstream run only and must not leak into upstream runs.
_LOCAL_OVERRIDES = ("stage", "hydra.", "resume", "ckpt_path", "ablation", "hparams_search")


def _inherited_overrides() -> list[str]:
    try:
        task = list(HydraConfig.get().overrides.task)
    except ValueError:  # not running under Hydra (tests composing configs)
        return []
    return [o for o in task if not o.lstrip("+~").startswith(_LOCAL_OVERRIDES)]


def train_upstream(cfg: DictConfig, stage: str, extra: list[str] | None = None) -> None:
    """Train ``stage`` for this experiment in a child process with the same overrides."""
    cmd = [
        sys.executable,
        "-m",
        "posehybrid.train",
        f"stage={stage}",
        f"name={cfg.name}",
        f"paths.log_dir={cfg.paths.log_dir}",
        f"paths.data_dir={cfg.paths.data_dir}",
        *_inherited_overrides(),
        *(extra or []),
    ]
    if str(cfg.resume) in ("auto", "last"):
        cmd.append("resume=auto")  # continue an interrupted upstream run, if there is one
    log.info("upstream stage %s missing for experiment %r: training it first", stage, cfg.name)
    code, received = run_forwarding(cmd)
    if received is not None:
        print(
            f"train: stopped by {signal.Signals(received).name} while training upstream stage "
            f"{stage!r} (passed on; it exited {code}); rerun with resume=auto to continue",
            file=sys.stderr,
            flush=True,
        )
        raise UpstreamStopped(128 + int(signal.SIGTERM))
    if code != 0:
        raise UpstreamError(
            f"upstream stage {stage!r} of experiment {cfg.name!r} failed "
            f"(exit {code}); command: {' '.join(cmd)}"
        )


def matching_run(
    experiment_dir: Path, stage: str, data_print: str
) -> tuple[Path | None, list[tuple[Path, dict[str, Any]]]]:
    """(the newest finished ``stage`` run trained on data with this fingerprint, or None; the
    newer runs that were trained on other data, newest first, with their metrics)."""
    others = []
    for run in reversed(finished_runs(experiment_dir, stage)):
        metrics = read_metrics(run) or {}
        if metrics.get("data_fingerprint") == data_print:
            return run, others
        others.append((run, metrics))
    return None, others


def _mismatch(
    stage: str, up: str, run: Path, metrics: dict[str, Any], identity: dict[str, Any]
) -> str:
    """One line: which run, both fingerprints, and how the data differs."""
    theirs = metrics.get("data_fingerprint")
    diffs = identity_differences(metrics.get("data_identity") or {}, identity)
    how = "; ".join(diffs[:4]) + (f"; +{len(diffs) - 4} more" if len(diffs) > 4 else "")
    return (
        f"stage {stage}: the {up} run {run} was trained on other data (fingerprint {theirs}, "
        f"this run's data {fingerprint(identity)}: {how or 'no identity recorded'})"
    )


def resolve_upstream(cfg: DictConfig) -> None:
    """Fill ``cfg.stage.init.<stage>`` with the upstream checkpoints, training them if needed.

    An upstream run counts only if it was trained on the same data (the fingerprint of
    ``provenance.data_identity``); when only runs on other data exist, a matching one is
    trained (``auto_upstream``, the default) or the lookup fails naming both fingerprints.
    Every explicitly given ``stage.init.<key>=PATH`` is checked and used as given, and passed
    on to an upstream stage trained here (the joint stage's ``part_detector`` reaches the
    spatial stage it trains this way): that is the one list a stage passes upstream.
    """
    experiment_dir = Path(cfg.paths.experiment_dir)
    init = cfg.stage.init
    identity = data_identity(cfg.data)
    data_print = fingerprint(identity)
    given: dict[str, str] = {}
    for key, value in init.items():
        if not value:
            continue
        path = Path(str(value)).expanduser().resolve()  # report what is really read
        if not path.is_file():
            raise FileNotFoundError(f"stage.init.{key}={value}: no such checkpoint file ({path})")
        log.info("stage %s: using %s checkpoint %s (given: %s)", cfg.stage.name, key, path, value)
        theirs = read_metrics(run_dir_of(path)) or {}
        if theirs.get("data_fingerprint") not in (None, data_print):
            # given on purpose (e.g. a synthetic detector to start real data from): say so
            message = _mismatch(cfg.stage.name, key, path, theirs, identity)
            log.warning("%s; using it as given", message)
        given[key] = init[key] = str(path)
    for up in cfg.stage.upstream:
        if up in given:
            continue
        run, others = matching_run(experiment_dir, up, data_print)
        if run is None:
            if others:
                message = _mismatch(cfg.stage.name, up, others[0][0], others[0][1], identity)
                if not cfg.auto_upstream:
                    raise DataMismatchError(
                        f"{message}; train a matching one or pass stage.init.{up}=PATH"
                    )
                log.warning("%s: training a matching %s run", message, up)
            elif not cfg.auto_upstream:
                raise FileNotFoundError(
                    f"no finished {up!r} run in {experiment_dir}; train it first "
                    f"(make train stage={up} ARGS='name={cfg.name}') or pass stage.init.{up}=PATH"
                )
            train_upstream(cfg, up, [f"stage.init.{k}={v}" for k, v in given.items()])
            run, _ = matching_run(experiment_dir, up, data_print)
            if run is None:
                raise RuntimeError(
                    f"upstream stage {up!r} finished but left no checkpoint for this data "
                    f"(fingerprint {data_print}) in {experiment_dir}"
                )
        init[up] = str(run_checkpoint(run))
        log.info("stage %s: using %s checkpoint %s", cfg.stage.name, up, init[up])
