"""What the tiny pipeline's command printed: each log line once, no Lightning/W&B noise, the
FLOPs of the model summary, a start-up block and one line per validation for every stage
(also in each run's ``train.log``)."""

from __future__ import annotations

import re

from tests.workflow.conftest import EXPERIMENT, TinyPipeline

STAGES = ("part_detector", "spatial", "joint")


def test_each_line_once_and_no_noise(tiny_pipeline: TinyPipeline) -> None:
    text = tiny_pipeline.console
    # one Lightning seed line per stage, in Hydra's format only (no second "INFO: ..." copy)
    assert len(re.findall(r"Seed set to \d+", text)) == len(STAGES), text[-3000:]
    assert not re.search(r"^INFO: ", text, re.MULTILINE)
    for noise in ("litlogger", "anonymous setting has no effect", "LeafSpec",
                  "Trainer already configured with model summary"):  # fmt: skip
        assert noise not in text, noise
    # the model summary's FLOPs come from the project's count, not Lightning's zero
    assert "Total FLOPs: 0" not in text
    assert re.search(r"Total FLOPs: [1-9]", text)


def test_start_up_block_and_validation_lines_per_stage(tiny_pipeline: TinyPipeline) -> None:
    text = tiny_pipeline.console
    for stage in STAGES:
        run = tiny_pipeline.run(stage)
        block = f"stage {stage} of experiment {EXPERIMENT}\n  run dir    {run}"
        assert block in text
        log = (run / "train.log").read_text()
        assert block in log
        for key in ("data       synthetic", "optimiser  Adam lr", "seed 42, device cpu"):
            assert key in log, (stage, key)
        # trainer.max_epochs=1 caps the stage's steps: the last validation line is at the end
        steps = re.findall(r"step (\d+)/(\d+)  train/loss \S+  val/pck@0.2 (\S+)  best", log)
        assert steps and steps[-1][0] == steps[-1][1], log[-2000:]
        # the monitor's line also carries the other threshold, once
        last = [line for line in log.splitlines() if "  val/pck@0.2 " in line][-1]
        assert re.search(r"best .*  val/pck@0.1 \d\.\d{3}$", last), last
        assert last.count("val/pck@0.2") == 1, last
        assert re.search(r"schedule   \d+ optimiser steps, at most 1 epoch\(s\)", log)
