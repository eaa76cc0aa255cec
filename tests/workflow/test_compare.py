"""``python -m posehybrid.compare``: one row per run, only the overrides that differ, and an
overlay of the PCK curves."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from posehybrid.compare import differing_keys, main, markdown, table
from posehybrid.run_records import gather
from tests.workflow.conftest import REPO, TinyPipeline

STAGES = ("part_detector", "spatial", "joint")


def test_gathers_the_pipeline_in_stage_order(tiny_pipeline: TinyPipeline) -> None:
    runs = gather([tiny_pipeline.log_dir])
    assert [r.stage for r in runs] == ["part_detector", "spatial", "joint"]
    assert {r.experiment for r in runs} == {"tiny"}
    # same overrides everywhere: no override column
    assert differing_keys(runs) == []
    columns, rows = table(runs)
    assert columns[:7] == ["experiment", "kind", "stage", "data", "n test", "PCK@0.1", "PCK@0.2"]
    assert {"wrist@0.2", "ankle@0.2", "minutes", "run"} <= set(columns)
    assert rows[0][6] == f"{runs[0].metrics['pck@0.2']:.3f}"
    # the left/right inversions next to PCK (every run here has its kinds of mistake)
    assert columns[7] == "inversion@0.2"
    inverted = [r.metrics["errors@0.2"]["total"]["inversion"] for r in runs]
    assert [row[7] for row in rows] == [f"{v:.3f}" for v in inverted]
    # the dataset and test-set size the runs were scored on (training runs: data.json)
    assert [r[1:5] for r in rows] == [["train", s, "synthetic", "16"] for s in STAGES]
    assert rows[0][-1].startswith("part_detector/")  # relative to what the runs share


def _variant(src: Path, dst: Path, key: str, value: str) -> Path:
    """A copy of run ``src`` whose overrides and config say ``key=value``."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("wandb", "checkpoints", "*.png"))
    ov_path = dst / ".hydra" / "overrides.yaml"
    overrides = [o for o in yaml.safe_load(ov_path.read_text()) if not o.startswith(key + "=")]
    ov_path.write_text(yaml.safe_dump([*overrides, f"{key}={value}"]))
    cfg_path = dst / ".hydra" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    node = cfg
    *parents, leaf = key.split(".")
    for p in parents:
        node = node[p]
    node[leaf] = yaml.safe_load(value)
    cfg_path.write_text(yaml.safe_dump(cfg))
    return dst


def test_only_differing_overrides_become_columns(
    tiny_pipeline: TinyPipeline, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    spatial = tiny_pipeline.run("spatial")
    a = _variant(spatial, tmp_path / "sweep" / "0", "model.spatial_graph.mode", "tree")
    b = _variant(spatial, tmp_path / "sweep" / "1", "model.spatial_graph.mode", "full")
    # an override only one run has still counts: the other run's config supplies its value
    _variant(b, tmp_path / "sweep" / "2", "stage.module.optimizer.lr", "0.005")
    runs = gather([tmp_path / "sweep"])
    assert differing_keys(runs) == ["model.spatial_graph.mode", "stage.module.optimizer.lr"]
    columns, rows = table(runs)
    assert columns[5:7] == ["mode", "lr"]
    # runs without the override show the value from their config (the stage default)
    default_lr = f"{yaml.safe_load((spatial / '.hydra' / 'config.yaml').read_text())['stage']['module']['optimizer']['lr']:g}"
    assert default_lr != "0.005"
    assert [r[5:7] for r in rows] == [["tree", default_lr], ["full", default_lr], ["full", "0.005"]]
    assert a.name == "0"

    assert main([str(tmp_path / "sweep"), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(
        "| experiment | kind | stage | data | n test | mode | lr |"
    )
    assert len(out.splitlines()) == 2 + 3
    png = tmp_path / "sweep" / "compare_curves.png"
    assert Image.open(png).size[0] > 300
    assert not list(png.parent.glob(".compare_curves*"))  # atomic write leaves no temp file


def test_markdown_table_shape() -> None:
    text = markdown(["a", "b"], [["1", "2"], ["3", "4"]])
    assert text == "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n"


def test_cli(tiny_pipeline: TinyPipeline, tmp_path: Path) -> None:
    out = tmp_path / "curves.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "posehybrid.compare",
            str(tiny_pipeline.experiment_dir),
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=tiny_pipeline.env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("| tiny |") == 3 and out.is_file()
    missing = subprocess.run(
        [sys.executable, "-m", "posehybrid.compare", str(tmp_path / "nope")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "no such directory" in missing.stderr


def test_eval_rows_say_what_they_scored(tiny_pipeline: TinyPipeline, tmp_path: Path) -> None:
    """An eval of the joint checkpoint on other data: its row says eval, the dataset and test
    size eval used (metrics.json), and no column holds the checkpoint path."""
    log_dir = tmp_path / "outputs"
    shutil.copytree(tiny_pipeline.experiment_dir, log_dir / "tiny", symlinks=True)
    ckpt = next((log_dir / "tiny" / "joint").glob("*/checkpoints/best.ckpt"))
    (folder,) = (tiny_pipeline.data_dir / "synthetic").glob("synthetic-lsp-*")
    proc = subprocess.run(
        [sys.executable, "-m", "posehybrid.eval", f"ckpt={ckpt}", "data=lsp",
         f"data.root={folder}", f"paths.log_dir={log_dir}", "flip_test=true"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=tiny_pipeline.env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = gather([log_dir / "tiny"])
    assert [(r.kind, r.stage) for r in runs] == [*(("train", s) for s in STAGES), ("eval", "joint")]
    columns, rows = table(runs)
    assert columns.count("experiment") == 1 and "preset" not in columns
    # flip_test applies to the eval row alone: not a difference; the data roots do differ
    assert "ckpt" not in columns and "flip_test" not in columns and "root" in columns
    assert rows[-1][:5] == ["tiny", "eval", "joint", "lsp", "16"]
    assert rows[-1][columns.index("root")] == f"…/synthetic/{folder.name}"  # shortened
    assert all(str(log_dir) not in cell for row in rows for cell in row)
    assert rows[-1][-1].startswith("eval/")


def test_against_a_reference_run_adds_paired_differences(
    tiny_pipeline: TinyPipeline, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    detector = tiny_pipeline.run("part_detector")
    old = tmp_path / "old"  # a run from before per-image counts: no value, not an error
    shutil.copytree(
        tiny_pipeline.run("spatial"), old, ignore=shutil.ignore_patterns("wandb", "checkpoints")
    )
    (old / "test_per_image.json").unlink()
    assert (
        main(
            [
                str(tiny_pipeline.log_dir),
                str(old),
                "--against",
                str(detector),
                "--format",
                "markdown",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    col = header.index("Δ@0.2 vs reference [95 %]")
    assert header[col + 1] == "minutes"
    cells = {}
    for line in lines[2:]:
        row = [c.strip() for c in line.strip("|").split("|")]
        cells[(row[2], row[-1])] = row[col]
    by_stage = {stage: cell for (stage, run), cell in cells.items() if not run.endswith("old")}
    assert by_stage["part_detector"] == "reference"
    pck = {s: gather([tiny_pipeline.run(s)])[0].metrics["pck@0.2"] for s in STAGES}
    for stage in ("spatial", "joint"):
        delta, interval = by_stage[stage].split(" ", 1)
        assert float(delta) == pytest.approx(pck[stage] - pck["part_detector"], abs=5e-4)
        low, high = (float(v) for v in interval.strip("[]").split(", "))
        assert low <= float(delta) <= high
    assert [cell for (_, run), cell in cells.items() if run.endswith("old")] == ["-"]


def test_against_a_run_without_per_image_counts_is_one_line(
    tiny_pipeline: TinyPipeline, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    old = tmp_path / "old"
    shutil.copytree(
        tiny_pipeline.run("spatial"), old, ignore=shutil.ignore_patterns("wandb", "checkpoints")
    )
    (old / "test_per_image.json").unlink()
    assert main([str(tiny_pipeline.log_dir), "--against", str(old)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"compare: --against {old}: no test_per_image.json") and "\n" not in err
