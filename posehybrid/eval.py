"""``python -m posehybrid.eval ckpt=PATH [data=…] [flip_test=true] [scales=[1.0,0.8,1.2]]``.

Evaluates any stage's checkpoint on the test split and writes, into
``outputs/<experiment>/eval/<timestamp>/``: ``table.md`` (per-part PCK@0.2 and strict PCP,
percentages), ``pck_curve.png``, ``examples.png`` (best and worst test images) and, last, as
the completion marker, ``metrics.json`` (the training run's layout, plus ``pcp`` where the
joint set has sticks and the ``tta`` settings; with ``candidates=[1,2,5]`` also the candidate
recall of ``metrics/candidates.py``; with ``by=view`` PCK and the kinds of mistake per value of
a record label, ``metrics/groups.py``), and ``test_per_image.json`` (each test image's correct and
counted joints, for paired comparisons: ``metrics/paired.py``). One JSON summary line goes to stdout; bad input gives one stderr line and exit 2.

Which data: by default (``data_from_run=auto``) the dataset config of the checkpoint's own
training run (``<run>/.hydra/config.yaml``), so the test split is exactly the one training
reported on; ``data.*`` overrides apply on top of it. Choosing a group (``data=lsp``) or
``data_from_run=false`` uses the composed config instead. Model sizes always come from the
checkpoint. Without TTA the computation is the training test step's (heat-maps -> decode ->
original px -> PCK), so the numbers equal the run's ``metrics.json``.

What was scored is recorded truthfully: the eval run's ``.hydra/config.yaml`` holds the data
and model configs actually used, ``metrics.json`` the dataset, test-set size and data root,
and a one-line warning says when the data differs from the checkpoint's training data and when
test images were in its training split (:mod:`posehybrid.provenance`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

import posehybrid.utils.resolvers  # noqa: F401  (registers ${ph.*} resolvers)
from posehybrid.inference import (
    TTA,
    inference_trainer,
    pick_device,
    resolve_precision,
    resolve_user_path,
)
from posehybrid.provenance import check_against_training, data_config, data_facts
from posehybrid.utils.cli import user_errors
from posehybrid.utils.console import setup_console

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")
log = logging.getLogger("posehybrid.eval")


def _cli_overrides() -> list[str]:
    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # composed without @hydra.main (tests)
        return []


def pcp_summary(res: dict[str, torch.Tensor], joint_set: Any) -> dict[str, Any] | None:
    """Strict PCP of the kept test predictions, as fractions; None where the joint set has no
    sticks (FLIC: no legs or head)."""
    from posehybrid.metrics import PCP

    try:
        pcp = PCP(joint_set)
    except ValueError:
        return None
    pcp.update(res["pred"], res["gt"], res["mask"])
    return pcp.summary()


def markdown_table(metrics: dict[str, Any], joint_set: Any, title: str) -> str:
    """Per-part PCK@0.2 and strict PCP in percent, from the test metrics (no second scoring);
    the conventions line is the ``score`` tool's for the same choices."""
    from posehybrid.score import Protocol

    protocol = Protocol("eval", joint_set.name, "pc", mask="annotated")

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{100.0 * v:.1f}"

    def row(values: dict[str, float | None]) -> list[str]:
        header = "| " + " | ".join(values) + " |"
        cells = "| " + " | ".join(pct(v) for v in values.values())
        return [header, "|" + "---|" * len(values), cells + " |"]

    pck = {**metrics["parts@0.2"], "total": metrics["pck@0.2"]}
    lines = [f"# {title}", "", f"Test examples: {metrics['n']}", "", "## PCK@0.2 (%)", ""]
    lines += row(pck)
    if metrics.get("pcp"):
        lines += ["", "## Strict PCP (%)", "", *row(metrics["pcp"])]
    if metrics.get("errors@0.2"):
        lines += ["", "## Joints by kind of mistake at PCK@0.2 (%, metrics/error_types.py)", ""]
        lines += row(metrics["errors@0.2"]["total"])
        visibility = metrics["errors@0.2"].get("visibility") or {}
        if any(g["share"] for g in visibility.values()):
            lines += ["", "### By the annotation's visibility flag", ""]
            lines += ["| joints | share | good | jitter | inversion | miss |"]
            lines += ["|---|---|---|---|---|---|"]
            for name, g in visibility.items():
                lines.append(f"| {name} | " + " | ".join(pct(v) for v in g.values()) + " |")
    if metrics.get("by"):
        lines += ["", f"## By {metrics['by']['key']}: PCK and kinds of mistake at @0.2", ""]
        groups = metrics["by"]["groups"]
        # the visible / occluded split only where the data marks some joint occluded
        hidden = any(g["visibility"]["occluded"]["share"] for g in groups.values())
        split = " visible @0.2 | occluded @0.2 |" if hidden else ""
        lines += [f"| group | examples | PCK@0.1 | PCK@0.2 | jitter | inversion | miss |{split}"]
        lines += ["|---|---|---|---|---|---|---|" + ("---|---|" if hidden else "")]
        for name, g in groups.items():
            kinds = g["errors@0.2"]
            cells = [g["pck@0.1"], g["pck@0.2"], kinds["jitter"], kinds["inversion"], kinds["miss"]]
            if hidden:
                cells += [g["visibility"][v]["good"] for v in ("visible", "occluded")]
            values = " | ".join("-" if v is None else f"{v:.3f}" for v in cells)
            lines.append(f"| {name} | {g['n']} | {values} |")
    for name, recall in (metrics.get("candidates") or {}).items():
        lines += ["", f"## PCK@0.2 of the best of the {name} map's top-k peaks (%)", ""]
        lines += row(recall["pck@0.2"])
    choices = ("labels", "normaliser", "compare", "pooling", "mask")
    conv = ", ".join(f"{k}: {getattr(protocol, k)}" for k in choices)
    return "\n".join([*lines, "", f"Conventions: {conv}.", ""])


def labels_of(records: Any, key: str) -> list[str]:
    """``by=KEY``: each test record's ``meta[KEY]`` (e.g. ``view`` on the synthetic sets,
    ``moviename`` on FLIC); a one-line error naming the key and the ones the records have when
    any record lacks it."""
    metas = [r.meta or {} for r in records]
    missing = [m for m in metas if key not in m]
    if missing:
        have = sorted(set.intersection(*(set(m) for m in metas))) if metas else []
        raise ValueError(
            f"by={key}: {len(missing)} of {len(metas)} test records have no {key!r}; "
            f"every record has: {', '.join(have) or 'nothing'}"
        )
    return [str(m[key]) for m in metas]


def candidate_counts(value: Any) -> list[int]:
    """``candidates=[1,2,5]`` -> [1, 2, 5]; anything else is a one-line error naming the key."""
    ks = list(value) if OmegaConf.is_list(value) or isinstance(value, list | tuple) else None
    if not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in ks):
        raise ValueError(
            f"candidates must be a list of peak counts >= 1, e.g. [1,2,5]; got {value!r}"
        )
    return ks


def example_figure(
    res: dict[str, torch.Tensor], dataset: Any, path: Path, k: int, title: str
) -> None:
    """Best and worst ``k`` test examples by mean torso-normalised error, on original images."""
    from posehybrid.data.geometry import crop_affine
    from posehybrid.data.images import read_image
    from posehybrid.metrics import torso_lengths
    from posehybrid.plots import example_tile, plot_examples

    js = dataset.joint_set
    torso = torso_lengths(res["gt"], js)
    dist = torch.linalg.vector_norm(res["pred"].double() - res["gt"].double(), dim=-1)
    mask = res["mask"].bool()
    err = (dist * mask).sum(1) / mask.sum(1).clamp(min=1) / torso
    err = torch.where(torch.isfinite(err) & (torso > 0) & mask.any(1), err, torch.nan)
    valid = torch.nonzero(torch.isfinite(err)).flatten()
    order = valid[torch.argsort(err[valid])].tolist()
    size = 256

    def tiles(rows: list[int]) -> list[tuple[np.ndarray, str]]:
        out = []
        for r in rows:
            rec = dataset.records[int(res["index"][r])]
            image = read_image(rec.image_path)
            h, w = image.shape[:2]
            affine = crop_affine(rec, (size, size), (w, h), dataset.box_scale)
            tile = example_tile(
                image, affine, size, res["pred"][r].numpy(), res["gt"][r].numpy(), js,
                mask[r].numpy(),
            )  # fmt: skip
            out.append((tile, f"{Path(rec.image_path).name}: err {float(err[r]):.2f} x torso"))
        return out

    k = min(k, len(order))
    plot_examples(tiles(order[:k]), tiles(order[::-1][:k]), path, title)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate ``cfg.ckpt``; write the four outputs; return the metrics."""
    from posehybrid.metrics.per_image import per_image_to_json
    from posehybrid.modules.base import PoseModule
    from posehybrid.modules.load import load_module, model_config_of
    from posehybrid.plots import part_curves, plot_pck_curves
    from posehybrid.utils.io import atomic_write_json, atomic_write_text
    from posehybrid.utils.runs import PER_IMAGE

    if not cfg.ckpt:
        raise ValueError("ckpt=PATH is required (a best.ckpt/last.ckpt of any stage)")
    ckpt = resolve_user_path(cfg.ckpt)
    tta = TTA.from_cfg(cfg.flip_test, cfg.scales)
    device = pick_device(cfg.device)
    precision = resolve_precision(str(cfg.precision), device)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    keys = [o.lstrip("+~").split("=", 1)[0] for o in _cli_overrides()]
    data_cfg, train_data, source = data_config(cfg, ckpt, keys)
    module: PoseModule = load_module(ckpt, joint_set=str(data_cfg.joint_set))
    with open_dict(cfg):
        cfg.model = OmegaConf.create(model_config_of(ckpt))  # recorded: the model actually used
        cfg.data = data_cfg
    log.info("eval: %s stage from %s on data from %s", module.stage_name, ckpt, source)
    datamodule = instantiate(cfg.data, codec=module.codec)  # sizes are the checkpoint's
    datamodule.prepare_data()
    datamodule.setup("test")
    facts = data_facts(datamodule)
    # checked before the test runs: a missing label is a one-line error, not a lost evaluation
    labels = labels_of(datamodule.datasets["test"].records, str(cfg.by)) if cfg.by else None
    provenance = check_against_training(ckpt, train_data, data_cfg, facts)
    # Lightning's test loop: the module's test_step (with the TTA) is the one scoring path.
    # The module comes loaded (safe load, batch norm folded): no ckpt_path to restore.
    module.tta, module.keep_test_outputs = tta, True
    if cfg.candidates:
        module.track_candidates(candidate_counts(cfg.candidates))
    setup_console()  # Lightning's lines once, through Hydra's handlers, without its adverts
    trainer = inference_trainer(device, precision)
    trainer.test(module, datamodule=datamodule, verbose=False)
    res = module.test_outputs
    if res is None or module.test_summary is None:
        raise ValueError(f"eval: the test split of data={cfg.data.name} is empty")

    js = module.joint_set
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    if hydra_cfg.output_subdir:  # the config actually used, not the composed placeholder
        atomic_write_text(out_dir / hydra_cfg.output_subdir / "config.yaml", OmegaConf.to_yaml(cfg))
    metrics: dict[str, Any] = {
        "kind": "eval",  # compare's train/eval column; training runs' metrics have no "kind"
        "stage": module.stage_name,
        "dataset": str(cfg.data.name),
        "experiment": str(cfg.name),
        "checkpoint": str(ckpt),
        "split": "test",
        "n": len(res["pred"]),
        "data": {"root": facts["root"], "splits": facts["splits"], "from": source, **provenance},
        "tta": tta.as_dict(),
        "precision": precision,
        **module.test_summary,
        "curve": module.test_curve,
    }
    pcp = pcp_summary(res, js)
    if pcp is not None:
        metrics["pcp"] = pcp
    if labels is not None:
        from posehybrid.metrics.groups import scores_by_group

        ordered = [labels[int(i)] for i in res["index"]]
        groups = scores_by_group(res["pred"], res["gt"], res["mask"], ordered, js, res["visible"])
        metrics["by"] = {"key": str(cfg.by), "groups": groups}
    title = f"{cfg.name}: {module.stage_name} on {cfg.data.name} (test)"
    if not tta.is_identity:
        title += f", flip={tta.flip} scales={list(tta.scales)}"
    atomic_write_text(out_dir / "table.md", markdown_table(metrics, js, title))
    curve = metrics["curve"]
    plot_pck_curves(
        part_curves(curve["thresholds"], curve["total"], curve["parts"]),
        out_dir / "pck_curve.png",
        title,
        emphasise="all joints",
    )
    example_figure(
        res, datamodule.datasets["test"], out_dir / "examples.png", int(cfg.examples), title
    )
    if module.test_per_image is not None:  # each image's counts (paired comparisons)
        atomic_write_json(out_dir / PER_IMAGE, per_image_to_json(module.test_per_image))
    # Written last, as in a training run: metrics.json is the completion marker that compare
    # (and anything listing finished evaluations) relies on.
    atomic_write_json(out_dir / "metrics.json", metrics)
    log.info("eval: wrote metrics.json, table.md, pck_curve.png, examples.png to %s", out_dir)
    return {"output_dir": str(out_dir), **metrics}


SUMMARY_KEYS = ("stage", "dataset", "experiment", "n", "pck@0.1", "pck@0.2", "parts@0.2", "pcp")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    from posehybrid.utils.runtime import tune_allocator

    tune_allocator()  # as train does: big tensors stay in the process between batches
    with user_errors("eval"):
        metrics = run(cfg)
    keys = ("output_dir", *SUMMARY_KEYS, "tta", "precision")
    print(json.dumps({k: metrics[k] for k in keys if k in metrics}))


if __name__ == "__main__":
    main()
