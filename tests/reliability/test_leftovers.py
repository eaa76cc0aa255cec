"""An interrupted command leaves nothing that looks finished or that blocks others: an eval
killed while plotting is not listed by ``compare``; a killed data generation's temporary
folder is removed by the next one; generated folders are shared like any ``mkdir``."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.conftest import REPO, wait_for


def test_an_eval_interrupted_while_plotting_is_not_listed_as_finished(
    references, reliability_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import posehybrid.eval as evaluation
    from posehybrid.run_records import gather

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed while drawing examples.png")

    ckpt = references["part_detector"] / "checkpoints" / "best.ckpt"
    monkeypatch.setattr(evaluation, "example_figure", killed)
    monkeypatch.setattr(
        sys, "argv",
        ["eval", f"ckpt={ckpt}", f"paths.log_dir={tmp_path}", "threads=1",
         f"paths.data_dir={reliability_home / 'data'}"],
    )  # fmt: skip
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with pytest.raises(KeyboardInterrupt):
            evaluation.main()
    finally:  # Hydra pointed the root logger at this test's stderr
        root.handlers[:], root.level = handlers, level
    (out,) = (tmp_path / "m_ref" / "eval").iterdir()
    assert (out / "table.md").is_file() and (out / "pck_curve.png").is_file()
    assert not (out / "metrics.json").exists()  # written last: the completion marker
    assert gather([tmp_path]) == []


def test_a_killed_generation_leaves_no_temporary_folder(tmp_path: Path) -> None:
    from posehybrid.data.synthetic import ensure_synthetic
    from posehybrid.utils.runs import FileLock

    code = (
        f"from posehybrid.data.synthetic import ensure_synthetic as e; e({str(tmp_path)!r}, 3000)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        wait_for(lambda: any(tmp_path.glob(".synthetic-*.tmp-*/images/im0020.jpg")), proc, 120)
    finally:
        proc.kill()
        proc.wait()
    (debris,) = tmp_path.glob(".synthetic-*.tmp-*")
    live = tmp_path / ".synthetic-lsp-0123456789ab.tmp-live"  # a generation still running
    live.mkdir()
    with FileLock(live / ".building"):
        folder = ensure_synthetic(tmp_path, n_images=2, image_size=32)
    assert not debris.exists() and live.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, folder.name])


@pytest.mark.parametrize("umask", [0o002, 0o022])
def test_generated_data_folders_follow_the_umask(tmp_path: Path, umask: int) -> None:
    """A shared data directory (umask 002, group-writable) stays usable by the group."""
    from posehybrid.data.synthetic import ensure_synthetic

    old = os.umask(umask)
    try:
        folder = ensure_synthetic(tmp_path, n_images=2, image_size=32)
    finally:
        os.umask(old)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(folder) == mode(folder / "images") == 0o777 & ~umask
    assert mode(folder / "joints.mat") == 0o666 & ~umask
    assert not (folder / ".building").exists()
