"""Every Hydra entry point composes and resolves its config (``--cfg job --resolve``), lists only
the config groups it reads in ``--help``, and the resolvers all live in one module."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
# (module, extra overrides needed for a complete config)
ENTRY_POINTS = [
    ("posehybrid.train", ["stage=joint"]),
    ("posehybrid.train", ["stage=spatial", "logger=wandb", "model.spatial_graph.mode=tree"]),
    ("posehybrid.eval", []),
    ("posehybrid.predict", []),
    ("posehybrid.score", ["pred=p.mat", "root=data/lsp"]),
    ("posehybrid.export", []),
    ("posehybrid.data", []),
]


def _run(module: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(("module", "overrides"), ENTRY_POINTS)
def test_cfg_job_resolve(module: str, overrides: list[str]) -> None:
    proc = _run(module, "--cfg", "job", "--resolve", *overrides)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert isinstance(cfg, dict) and cfg
    assert "${" not in proc.stdout  # everything resolved
    if module == "posehybrid.train":
        assert cfg["logger"]["wandb"]["name"].startswith("default-")
        assert cfg["logger"]["wandb"]["offline"] in (True, False)
    if module in ("posehybrid.eval", "posehybrid.predict", "posehybrid.export"):
        assert cfg["name"] == "default"  # no checkpoint: the default experiment


EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_resolves(name: str) -> None:
    proc = _run("posehybrid.train", f"experiment={name}", "--cfg", "job", "--resolve")
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["name"] == name and "${" not in proc.stdout
    if name == "synthetic_one_stage":  # both parts from scratch, in one joint run
        assert cfg["stage"]["name"] == "one_stage" and cfg["stage"]["upstream"] == []
        assert cfg["stage"]["module"]["_target_"] == "posehybrid.modules.joint.JointModule"
        assert cfg["stage"]["priors_from_data"] and not cfg["stage"]["detector_norm_eval"]
        assert not cfg["stage"]["writes_ablation"]  # one row, not a chain
        assert cfg["trainer"]["max_steps"] == cfg["steps"]["one_stage"]


def test_every_ph_resolver_the_configs_use_is_registered_by_the_resolvers_module() -> None:
    """Grep the configs for ${ph.NAME...}: each NAME is registered by utils/resolvers.py."""
    from posehybrid.utils import resolvers

    used = set()
    for path in (REPO / "conf").rglob("*.yaml"):
        used |= set(re.findall(r"\$\{(ph\.[a-z_]+):", path.read_text()))
    assert used, "the configs use ph.* resolvers"
    assert used <= set(resolvers.RESOLVERS), used - set(resolvers.RESOLVERS)
    for name in resolvers.RESOLVERS:
        assert OmegaConf.has_resolver(name)


def test_resolver_values(tmp_path: Path) -> None:
    from posehybrid.utils.resolvers import config_groups, experiment_of, first_set

    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("name: lspet200\n")
    assert experiment_of(run / "checkpoints" / "best.ckpt") == "lspet200"
    assert experiment_of(tmp_path / "x" / "checkpoints" / "best.ckpt") == "default"
    assert experiment_of(None) == "default"
    assert first_set(None, "", "b", "c") == "b"
    line = config_groups("model")
    assert line.startswith("model: ") and "small" in line and "tompson2014" in line


@pytest.mark.parametrize("module", ["posehybrid.eval", "posehybrid.predict"])
def test_help_lists_only_the_groups_that_apply(module: str) -> None:
    proc = _run(module, "--help")
    assert proc.returncode == 0, proc.stderr
    groups = proc.stdout.split("== Config ==")[0]
    for foreign in ("stage:", "trainer:", "logger:", "callbacks:", "hparams_search:"):
        assert foreign not in groups, groups
    if module == "posehybrid.eval":
        assert "data: " in groups and "lspet" in groups
    else:
        assert "No configuration groups" in groups


def test_cpu_precision_is_bf16_only_where_the_cpu_computes_bf16(tmp_path: Path) -> None:
    from posehybrid.utils.resolvers import cpu_precision

    def cpuinfo(flags: str) -> Path:
        path = tmp_path / f"cpuinfo-{len(list(tmp_path.iterdir()))}"
        path.write_text(f"processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse2 {flags}\n\n")
        return path

    assert cpu_precision(cpuinfo("avx2 avx512f avx512_bf16")) == "bf16-mixed"  # Zen 4
    assert cpu_precision(cpuinfo("avx512f amx_bf16 amx_tile")) == "bf16-mixed"  # Sapphire Rapids
    assert cpu_precision(cpuinfo("avx2 avx512f avx512_vnni")) == "32-true"  # Cascade Lake
    assert cpu_precision(cpuinfo("avx2")) == "32-true"  # Zen 1-3
    assert cpu_precision(tmp_path / "missing") == "32-true"
