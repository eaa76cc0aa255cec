"""After the pipeline's last stage: the ablation table (``ablation.json`` / ``ablation.md``) of
its chain of runs, and the equal-time control that ``ablation.control`` adds to it: the detector
trained on, with its own recipe, for as long as the spatial and joint stages trained.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from posehybrid.ablation import ablation_markdown, differences, mean_pose_row, row
from posehybrid.pipeline import DataMismatchError, train_upstream
from posehybrid.utils.io import atomic_write_json, atomic_write_text
from posehybrid.utils.runs import latest_run, read_metrics, read_per_image, run_dir_of

log = logging.getLogger(__name__)

CONTROL_ROW = "control (detector trained longer)"

# The differences the table reports with intervals, (a, b) for a − b: whether anything trained,
# what each stage adds, and the headline, joint against the equal-time control.
DIFFERENCES = [
    ("part_detector", "mean pose"),
    ("spatial", "part_detector"),
    ("joint", "spatial"),
    ("joint", "part_detector"),
    ("joint", CONTROL_ROW),
]


def check_same_data(rows: list[tuple[str, dict[str, Any]]]) -> None:
    """The ablation table puts rows side by side only when they were scored on one test set:
    every run's data fingerprint must be the same."""
    prints = {name: m.get("data_fingerprint") for name, m in rows}
    if len(set(prints.values())) > 1:
        listed = ", ".join(f"{name} {fp}" for name, fp in prints.items())
        raise DataMismatchError(
            f"ablation: the stages were trained and tested on different data ({listed}); "
            "their rows would not be comparable: rerun the stages on one dataset"
        )


def control_steps(later: list[dict[str, Any]], detector: dict[str, Any]) -> int:
    """The equal-time control's length: the training minutes of the stages after the detector
    (``later``: the spatial and joint runs' metrics, their ``fit_minutes``) over the detector
    stage's own seconds per optimiser step. Both sides are fit time, validation included:
    neither the later stages' start-up nor their test-set evaluation is training, and the
    control's own are not counted either."""
    extra_seconds = sum(60.0 * float(m["fit_minutes"]) for m in later)
    return max(1, math.ceil(extra_seconds / max(float(detector["step_seconds"]), 1e-3)))


def retimed_control_steps(
    later: list[dict[str, Any]], control: dict[str, Any], planned: int, tolerance: float
) -> int | None:
    """The control's length at its *own* seconds per step (``control``: its metrics), when that
    is more than ``tolerance`` (a fraction) longer than the ``planned`` one it ran; else None.
    The detector stage's recorded step time can come from another run, session or a contended
    machine: slower than the control's own, it would shorten the control."""
    own = control_steps(later, control)
    return own if own > planned * (1.0 + tolerance) else None


def earlier_control(
    experiment_dir: Path,
    detector_ckpt: str,
    detector: dict[str, Any],
    later: list[dict[str, Any]],
    tolerance: float,
) -> dict[str, Any] | None:
    """The newest finished control run of this experiment, when it is still the equal-time
    control of these stages (``later``: the spatial and joint runs' metrics): it continued the
    same detector checkpoint, and its budget (``max_steps``) is the length :func:`_run_control`
    would give it now, within ``tolerance`` either way. A joint stage rerun without
    ``ablation.control`` keeps that row; a control sized for other stages is left out, since
    it would no longer be the equal-time comparison. None otherwise."""
    run = latest_run(experiment_dir, "part_detector_control")
    control = read_metrics(run) if run is not None else None
    if control is None or "max_steps" not in control:  # none, or written before the key
        return None
    if (control.get("init") or {}).get("part_detector") != detector_ckpt:
        return None
    planned = control_steps(later, detector)
    due = retimed_control_steps(later, control, planned, tolerance) or planned
    if abs(int(control["max_steps"]) - due) > max(tolerance, 0.0) * due:
        log.warning(
            "ablation: the control in %s trained %d steps, but these spatial and joint stages "
            "took %d detector steps: left out of the table (make ablation reruns it)",
            run, int(control["max_steps"]), due,
        )  # fmt: skip
        return None
    return control


def _train_control(cfg: DictConfig, detector_ckpt: str, steps: int) -> dict[str, Any] | None:
    """Train the control for ``steps``; its run's metrics (None when it left none)."""
    log.info("control: the detector trained on for %d more steps", steps)
    train_upstream(
        cfg,
        "part_detector",
        [
            "stage.name=part_detector_control",
            f"+stage.init.part_detector={detector_ckpt}",  # the detector stage has no init keys
            f"trainer.max_steps={steps}",
        ],
    )
    run = latest_run(Path(cfg.paths.experiment_dir), "part_detector_control")
    return read_metrics(run) if run is not None else None


def _run_control(
    cfg: DictConfig, detector_ckpt: str, detector: dict[str, Any], later: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Train the detector on, with its own recipe (optimiser, learning rate, a fresh cosine
    schedule), for as long as the spatial and joint stages took together: the equal-time
    control. Sized by the detector stage's step time, then rerun once at its own when that
    is faster (``ablation.control_retime``). Its ablation row (None when it left no metrics)."""
    planned = control_steps(later, detector)
    metrics = _train_control(cfg, detector_ckpt, planned)
    tolerance = float(cfg.ablation.control_retime)
    retimed = None if metrics is None else retimed_control_steps(later, metrics, planned, tolerance)
    if retimed:
        log.info(
            "control: its own step took %.1f ms against the detector stage's %.1f ms: rerun "
            "for %d steps (was %d)", 1e3 * float(metrics["step_seconds"]),
            1e3 * float(detector["step_seconds"]), retimed, planned,
        )  # fmt: skip
        metrics = _train_control(cfg, detector_ckpt, retimed)
    return None if metrics is None else row(CONTROL_ROW, metrics)


def finish_pipeline(cfg: DictConfig, metrics: dict[str, Any]) -> dict[str, Any] | None:
    """After the pipeline's last stage (``stage.writes_ablation``): write ``ablation.json`` /
    ``ablation.md`` and print the table."""
    if not cfg.stage.writes_ablation:
        return None
    spatial_run = run_dir_of(cfg.stage.init.spatial)
    spatial = read_metrics(spatial_run)
    if spatial is None:
        log.warning(
            "no metrics.json beside %s: skipping the ablation table", cfg.stage.init.spatial
        )
        return None
    detector_ckpt = (spatial.get("init") or {}).get("part_detector")
    detector = read_metrics(run_dir_of(detector_ckpt)) if detector_ckpt else None
    scored = [("spatial", spatial), ("joint", metrics)]
    check_same_data([("part_detector", detector), *scored] if detector is not None else scored)
    floor, floor_images = mean_pose_row(cfg.data, instantiate(cfg.model.codec))
    rows = [floor]
    per_image = {
        "mean pose": floor_images,
        "spatial": read_per_image(spatial_run),
        "joint": read_per_image(cfg.paths.output_dir),
    }
    if detector is not None:
        rows.append(row("part_detector", detector))
        per_image["part_detector"] = read_per_image(run_dir_of(detector_ckpt))
    rows += [row("spatial", spatial), row("joint", metrics)]
    experiment_dir = Path(cfg.paths.experiment_dir)
    later = [spatial, metrics]
    control = None
    if cfg.ablation.control and detector is not None:
        control = _run_control(cfg, detector_ckpt, detector, later)
    elif detector is not None:  # a joint rerun: keep the control that still matches
        tolerance = float(cfg.ablation.control_retime)
        earlier = earlier_control(experiment_dir, detector_ckpt, detector, later, tolerance)
        control = None if earlier is None else row(CONTROL_ROW, earlier)
    if control is not None:
        rows.append(control)
        control_run = latest_run(experiment_dir, "part_detector_control")  # the row's run
        per_image[CONTROL_ROW] = read_per_image(control_run) if control_run else None
    intervals = cfg.ablation.intervals
    table = {
        "experiment": cfg.name,
        "stages": rows,
        "differences": differences(per_image, DIFFERENCES, intervals),
        "intervals": {k: intervals[k] for k in ("resamples", "confidence", "seed")},
    }
    atomic_write_json(experiment_dir / "ablation.json", table)
    text = ablation_markdown(table)
    atomic_write_text(experiment_dir / "ablation.md", text)
    print(text, flush=True)
    return table
