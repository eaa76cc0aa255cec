"""``peak_rss_gib_spatial_paper``: peak resident memory of one spatial-stage training step at the
paper's size (tompson2014: 360x240 input, 90x60 maps, 127x127 kernels), batch 16.

The step is what ``SpatialModule`` trains: the frozen detector's forward without gradients,
then the spatial model's forward + cross-entropy + backward + Adam step. It runs in a fresh
child process (``python -m benchmarks.memory ...``) that reports its own high-water mark
(``VmHWM`` in /proc/self/status), so nothing the benchmark process holds is counted. The child
tunes the allocator like ``posehybrid.train`` does, since that is how training runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, Settings, figure, load_avg


def vm_hwm_bytes() -> int:
    """This process's peak resident set (bytes), from /proc; falls back to getrusage."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def spatial_stage(
    cfg: dict[str, Any], batch: int, device: str = "cpu"
) -> tuple[Callable[[], None], int]:
    """A ``SpatialModule`` training step on random data at ``cfg``'s sizes: (step, edges)."""
    import torch

    from posehybrid.modules.load import build_module
    from posehybrid.modules.spatial import SpatialModule

    torch.manual_seed(0)
    module = build_module(SpatialModule, cfg, joint_set="lsp").to(device)
    module.train()
    module.detector.eval()  # frozen, as on_train_epoch_start leaves it
    opt = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=1e-3)
    (w, h), (mw, mh) = cfg["input_size"], cfg["heatmap_size"]
    j = module.joint_set.num_joints
    data = {
        "image": torch.rand(batch, 3, h, w, device=device),
        "heatmaps": torch.rand(batch, j, mh, mw, device=device),
        "target_weight": torch.ones(batch, j, device=device),
    }

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        module.loss(module.heatmaps(data["image"]), data).backward()
        opt.step()

    return step, len(module.edges)


def paper_cfg(settings: Settings, graph: str, input_size: Sequence[int] | None) -> dict:
    """tompson2014's model config with the requested graph (and, in quick mode, input size)."""
    from benchmarks.common import model_cfg

    overrides = [f"model.spatial_graph.mode={graph}"]
    if input_size:  # quick mode: shrink the input, keep the architecture
        w, h = input_size
        overrides += [f"model.input_size=[{w},{h}]", f"model.heatmap_size=[{w // 4},{h // 4}]",
                      f"model.spatial.kernel_size={2 * max(w, h) // 4 - 1}"]  # fmt: skip
    return model_cfg("tompson2014", settings, *overrides)


def child(args: argparse.Namespace) -> dict[str, Any]:
    """Build the spatial stage at the requested size, run ``steps`` training steps."""
    from posehybrid.utils.runtime import tune_allocator

    tuned = tune_allocator()
    import torch

    torch.set_num_threads(args.threads)
    cfg = paper_cfg(Settings(data_dir=Path(args.data_dir)), args.graph, args.input_size)
    step, edges = spatial_stage(cfg, args.batch)
    base = vm_hwm_bytes()
    after: list[int] = []
    step_s: list[float] = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        step_s.append(time.perf_counter() - start)
        after.append(vm_hwm_bytes())
    return {
        "peak_bytes": max(after),
        "peak_bytes_per_step": after,
        "before_step_bytes": base,
        "step_s": step_s,
        "edges": edges,
        "input_size_wh": cfg["input_size"],
        "heatmap_size_wh": cfg["heatmap_size"],
        "kernel_size": cfg["spatial"]["kernel_size"],
        "allocator_tuned": tuned,
    }


def measure(settings: Settings, graph: str, steps: int) -> dict[str, Any]:
    """Run one child; returns its report (raises with its stderr on failure)."""
    cmd = [
        sys.executable, "-m", "benchmarks.memory", "--batch", "2" if settings.quick else "16", "--graph", graph, "--steps", str(steps),
        "--threads", str(settings.threads), "--data-dir", str(settings.data_dir),
    ]  # fmt: skip
    if settings.quick:
        cmd += ["--input-size", "64", "48"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(settings: Settings) -> dict[str, dict[str, Any]]:
    """Tree graph (the default) is the figure; the full 196-pair graph goes in its details."""
    gib = 1024**3
    steps = 1  # each step costs ~30-40 s on 2 cores (the batch-16 detector forward)
    load_start = load_avg()
    tree = measure(settings, "tree", steps)
    full = measure(settings, "full", 1)
    config = {
        "model": "tompson2014",
        "batch": 2 if settings.quick else 16,
        "graph": "tree (self edges + skeleton neighbours, both directions)",
        "edges": tree["edges"],
        "input_size_wh": tree["input_size_wh"],
        "heatmap_size_wh": tree["heatmap_size_wh"],
        "kernel_size": tree["kernel_size"],
        "step": "detector forward (no grad, eval) + spatial forward/backward + Adam",
        "steps": steps,
        "measured_in": "child process, VmHWM after the steps",
        "allocator_tuned": tree["allocator_tuned"],
        "threads": settings.threads,
    }
    details = {
        "peak_gib_per_step": [b / gib for b in tree["peak_bytes_per_step"]],
        "before_step_gib": tree["before_step_bytes"] / gib,
        "step_s": tree["step_s"],
        "full_graph": {
            "edges": full["edges"],
            "peak_gib": full["peak_bytes"] / gib,
            "before_step_gib": full["before_step_bytes"] / gib,
            "step_s": full["step_s"],
        },
    }
    fig = figure([tree["peak_bytes"] / gib], "GiB", config, target=("<=", 4.0),
                 details=details, load_start=load_start)  # fmt: skip
    return {"peak_rss_gib_spatial_paper": fig}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--graph", choices=("tree", "full"), default="tree")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=str(REPO / "data"))
    parser.add_argument("--input-size", type=int, nargs=2, default=None)
    print(json.dumps(child(parser.parse_args())))


if __name__ == "__main__":
    main()
