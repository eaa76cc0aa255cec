"""After the pipeline's last stage: the ablation table (``ablation.json`` / ``ablation.md``) of
its chain of runs, and the equal-time rows that ``ablation`` adds to it:

- ``ablation.control``: the control, the detector trained on from its checkpoint with its own
  recipe for as long as the spatial and joint stages trained;
- ``ablation.detector_alone``: the detector stage from scratch, one schedule, for as long as all
  three stages trained (the strongest detector-only use of the same total time we know of);
- ``ablation.one_stage``: the detector and the spatial model trained together from scratch, for
  as long as all three stages trained.
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

# each row's per-image test counts beside ablation.json: what `posehybrid.pooled` pools over splits
PER_IMAGE_FILE = "ablation_per_image.json"
CONTROL_ROW = "control (detector trained longer)"
DETECTOR_ALONE_ROW = "detector alone (same total time)"
ONE_STAGE_ROW = "one stage (joint from scratch)"

# The differences the table reports with intervals, (a, b) for a − b: whether anything trained,
# what each stage adds, the headline (joint against the equal-time control), and the
# joint models against the detector alone for the same total time.
DIFFERENCES = [
    ("part_detector", "mean pose"),
    ("spatial", "part_detector"),
    ("joint", "spatial"),
    ("joint", "part_detector"),
    ("joint", CONTROL_ROW),
    ("joint", DETECTOR_ALONE_ROW),
    ("joint", ONE_STAGE_ROW),
    (ONE_STAGE_ROW, DETECTOR_ALONE_ROW),
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


def equal_time_steps(budget: list[dict[str, Any]], runner: dict[str, Any]) -> int:
    """An equal-time row's length: the training minutes of the ``budget`` runs (their metrics'
    ``fit_minutes``: for the control the spatial and joint stages, for one-stage training all
    three) over ``runner``'s seconds per optimiser step (its metrics' ``step_seconds``). Both
    sides are fit time, validation included: neither the stages' start-up nor their test-set
    evaluation is training, and the row's own are not counted either."""
    extra_seconds = sum(60.0 * float(m["fit_minutes"]) for m in budget)
    return max(1, math.ceil(extra_seconds / max(float(runner["step_seconds"]), 1e-3)))


def retimed_steps(
    budget: list[dict[str, Any]], own: dict[str, Any], planned: int, tolerance: float
) -> int | None:
    """An equal-time row's length at its *own* seconds per step (``own``: the metrics of the
    run that trained ``planned`` steps), when that is more than ``tolerance`` (a fraction)
    longer; else None. The step time it was planned with comes from another run (the detector
    stage's for the control, the joint stage's for one-stage training), maybe of another
    session or a contended machine: slower than the row's own, it would shorten the row."""
    steps = equal_time_steps(budget, own)
    return steps if steps > planned * (1.0 + tolerance) else None


def stopped_early(metrics: dict[str, Any]) -> bool:
    """Whether early stopping ended the run before its ``trainer.max_steps`` (its metrics'
    ``early_stopped``; False for metrics written before the key)."""
    return bool(metrics.get("early_stopped", False))


def rerun_steps(
    budget: list[dict[str, Any]], own: dict[str, Any], planned: int, tolerance: float
) -> int | None:
    """The length an equal-time row is rerun for after a run of ``planned`` steps (``own``:
    that run's metrics): :func:`retimed_steps`, except when early stopping ended it
    (validation no longer improved, so more steps would go unused). None: the run stands."""
    return None if stopped_early(own) else retimed_steps(budget, own, planned, tolerance)


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
    planned = equal_time_steps(later, detector)
    due = rerun_steps(later, control, planned, tolerance) or planned
    if abs(int(control["max_steps"]) - due) > max(tolerance, 0.0) * due:
        log.warning(
            "ablation: the control in %s trained %d steps, but these spatial and joint stages "
            "took %d detector steps: left out of the table (make ablation reruns it)",
            run, int(control["max_steps"]), due,
        )  # fmt: skip
        return None
    return control


def _train_row(cfg: DictConfig, stage: str, run: str, extra: list[str], steps: int) -> dict | None:
    """Train ``stage`` as the run ``run`` for ``steps``; its metrics (None when it left none)."""
    train_upstream(cfg, stage, [f"stage.name={run}", *extra, f"trainer.max_steps={steps}"])
    found = latest_run(Path(cfg.paths.experiment_dir), run)
    return read_metrics(found) if found is not None else None


def _run_equal_time(
    cfg: DictConfig,
    name: str,
    stage: str,
    extra: list[str],
    budget: list[dict[str, Any]],
    estimate: dict[str, Any],
) -> dict[str, Any] | None:
    """Train the row ``name`` (the stage ``stage``, the run of the same name, with ``extra``
    overrides) for as long as the ``budget`` runs trained: sized at the ``estimate`` run's
    seconds per step, then rerun once at its own when that gives more steps than
    ``ablation.control_retime`` allows, unless early stopping ended it (as :func:`rerun_steps`).
    Its metrics (None when it left none)."""
    planned = equal_time_steps(budget, estimate)
    log.info("%s: %d steps, as long as %d stages trained", name, planned, len(budget))
    metrics = _train_row(cfg, stage, name, extra, planned)
    if metrics is None:
        return None
    if stopped_early(metrics):
        log.info(
            "%s: early stopping ended it at step %d of %d: not rerun",
            name, int(metrics["steps"]), int(metrics["max_steps"]),
        )  # fmt: skip
        return metrics
    rerun = retimed_steps(budget, metrics, planned, float(cfg.ablation.control_retime))
    if rerun:
        log.info(
            "%s: its own step took %.1f ms against the %.1f ms it was sized with: rerun for "
            "%d steps (was %d)", name, 1e3 * float(metrics["step_seconds"]),
            1e3 * float(estimate["step_seconds"]), rerun, planned,
        )  # fmt: skip
        metrics = _train_row(cfg, stage, name, extra, rerun)
    return metrics


def _run_control(
    cfg: DictConfig, detector_ckpt: str, detector: dict[str, Any], later: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The equal-time control: the detector trained on with its own recipe (optimiser,
    learning rate, a fresh cosine schedule) from its checkpoint, for as long as the spatial and
    joint stages (``later``) took together. Its metrics (None when it left none)."""
    return _run_equal_time(
        cfg,
        "part_detector_control",
        "part_detector",
        [f"+stage.init.part_detector={detector_ckpt}"],  # the detector stage has no init keys
        later,
        detector,
    )


def _add_row(
    name: str,
    metrics: dict[str, Any] | None,
    run: str,
    experiment_dir: Path,
    rows: list[dict[str, Any]],
    per_image: dict[str, Any],
) -> None:
    """Append the row ``name`` of ``metrics`` (a run of ``run``) and its per-image counts."""
    if metrics is None:
        return
    rows.append(row(name, metrics))
    found = latest_run(experiment_dir, run)
    per_image[name] = read_per_image(found) if found is not None else None


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
        control = earlier_control(experiment_dir, detector_ckpt, detector, later, tolerance)
    _add_row(CONTROL_ROW, control, "part_detector_control", experiment_dir, rows, per_image)
    if detector is not None and cfg.ablation.detector_alone:
        # sized at the control's own step when there is one (the same model and batch, just
        # measured), else at the detector stage's
        alone = _run_equal_time(
            cfg, "part_detector_alone", "part_detector", [], [detector, *later], control or detector
        )
        _add_row(DETECTOR_ALONE_ROW, alone, "part_detector_alone", experiment_dir, rows, per_image)
    if detector is not None and cfg.ablation.one_stage:
        # sized at the joint stage's step (the same model and batch)
        one = _run_equal_time(cfg, "one_stage", "one_stage", [], [detector, *later], metrics)
        _add_row(ONE_STAGE_ROW, one, "one_stage", experiment_dir, rows, per_image)
    intervals = cfg.ablation.intervals
    table = {
        "experiment": cfg.name,
        "stages": rows,
        "differences": differences(per_image, DIFFERENCES, intervals),
        "intervals": {k: intervals[k] for k in ("resamples", "confidence", "seed")},
    }
    atomic_write_json(experiment_dir / "ablation.json", table)
    # in the table's row order (None for a row from before per-image counts), with the test
    # data's fingerprint: pooling two experiments of the same test images would count each twice
    ordered = {r["stage"]: per_image.get(r["stage"]) for r in rows}
    counts = {"data_fingerprint": metrics.get("data_fingerprint"), "rows": ordered}
    atomic_write_json(experiment_dir / PER_IMAGE_FILE, counts)
    text = ablation_markdown(table)
    atomic_write_text(experiment_dir / "ablation.md", text)
    print(text, flush=True)
    return table
