"""Atomic outputs; a clear start-up error for an unwritable or full output directory, and a
clear error for a disk that fills during training."""

from __future__ import annotations

import ast
import os
import resource
import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from posehybrid.utils import io
from posehybrid.utils.validate import OutputDirError, check_output_dir, run_dir_problem
from tests.reliability.conftest import TINY, paths, run_train_inprocess

PACKAGE = Path(__file__).resolve().parents[2] / "posehybrid"


@pytest.mark.parametrize(
    "writer",
    [
        lambda p: io.atomic_write_json(p, {"pck@0.2": float("nan"), "bad": object()}),
        lambda p: io.atomic_write(p, lambda tmp: (tmp.write_text('{"half": '), 1 / 0)),
        lambda p: io.atomic_write_text(p, None),
    ],
    ids=["unserialisable-json", "dies-mid-write", "wrong-type"],
)
def test_a_failed_write_leaves_the_old_file(tmp_path: Path, writer) -> None:
    path = tmp_path / "metrics.json"
    io.atomic_write_json(path, {"pck@0.2": 0.5})
    before = path.read_bytes()
    with pytest.raises((TypeError, ZeroDivisionError)):
        writer(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["metrics.json"]  # no temporary debris


def test_a_kill_during_the_write_never_shows_a_partial_file(tmp_path: Path) -> None:
    """Until ``os.replace`` the destination is the old file; the temporary one is a sibling."""
    path = tmp_path / "ablation.md"
    io.atomic_write_text(path, "old\n")
    seen = {}

    def write(tmp: Path) -> None:
        tmp.write_text("new, half")
        seen["during"] = path.read_text()
        seen["tmp_dir"] = tmp.parent

    io.atomic_write(path, write)
    assert seen == {"during": "old\n", "tmp_dir": tmp_path} and path.read_text() == "new, half"


# Output writers must go through posehybrid.utils.io (or build a folder aside, then rename it).
ALLOWED_DIRECT_WRITES = {
    "posehybrid/utils/io.py",  # the atomic writers themselves
    "posehybrid/utils/validate.py",  # the start-up write probe
    "posehybrid/data/synthetic.py",  # written into a temporary folder, renamed when complete
    "posehybrid/data/cache.py",  # the same folder's params.json and COMPLETE marker
    "posehybrid/data/draw.py",  # cv2.imwrite into a temporary name, then os.replace
    "posehybrid/score.py",  # savefig into a temporary name, then os.replace
}
WRITERS = {"write_text", "write_bytes", "savefig", "imwrite", "dump", "save"}


def test_outputs_are_written_through_atomic_helpers() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            mode = next((a.value for a in node.args[1:2] if isinstance(a, ast.Constant)), "")
            opened_for_write = name == "open" and any(c in str(mode) for c in "wax+")
            if (name in WRITERS or opened_for_write) and rel not in ALLOWED_DIRECT_WRITES:
                if _inside_atomic_write(path, node):
                    continue
                found.append(f"{rel}:{node.lineno}: {name}")
    assert found == []


def _inside_atomic_write(path: Path, call: ast.Call) -> bool:
    """``atomic_write(p, lambda tmp: fig.savefig(tmp))``: the write targets the temporary file."""
    source = path.read_text(encoding="utf-8").splitlines()[call.lineno - 1]
    return "atomic_write" in source or "lambda tmp" in source or "(buf" in source


def test_check_output_dir_unwritable(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(OutputDirError, match=f"output directory {blocker}/run is not writable"):
        check_output_dir(blocker / "run", min_free_mb=0)
    if os.geteuid() != 0:  # root writes through permission bits
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(OutputDirError, match="not writable"):
            check_output_dir(ro / "run", min_free_mb=0)


def test_check_output_dir_disk_full(tmp_path: Path, monkeypatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 5 * 2**20, 5 * 2**20))
    with pytest.raises(OutputDirError, match="only 5 MiB free, need at least 200 MiB"):
        check_output_dir(tmp_path / "run", min_free_mb=200)
    assert run_dir_problem(tmp_path / "x" / "y", min_free_mb=200).startswith(
        f"run directory {tmp_path}/x/y: only 5"
    )
    check_output_dir(tmp_path / "run", min_free_mb=1)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("paths.log_dir={blocker}/outputs", "is not a directory"),  # Hydra's run dir
        ("paths.output_dir={blocker}/run", "is not writable"),  # the run's own outputs
        ("min_free_mb=1e12", "MiB free"),  # a full disk
    ],
)
def test_train_cli_fails_at_start_up(
    override: str, fragment: str, tmp_path: Path, reliability_home: Path, monkeypatch, capsys
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    name = tmp_path.name  # one experiment per case
    args = [*TINY, *paths(reliability_home), f"name={name}", override.format(blocker=blocker)]
    code, err = run_train_inprocess(args, monkeypatch, capsys)
    lines = [line for line in err.splitlines() if line.startswith("train:")]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("train: error:") and fragment in lines[0], lines[0]
    assert "Traceback" not in err
    # Before Hydra made a run directory, except when only the outputs' place is bad.
    assert (reliability_home / "outputs" / name).exists() == ("output_dir" in override)


def test_a_disk_that_fills_during_training_gives_one_line(
    reliability_home: Path, monkeypatch, capsys
) -> None:
    """torch.save reports a full disk as ``RuntimeError: basic_ios::clear`` or
    ``PytorchStreamWriter failed writing file`` (not an OSError). A file-size limit makes the
    same write fail for real: the logs fit in 1 MiB, a 5 MB checkpoint does not."""
    name = "disk_full"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))  # Python ignores SIGXFSZ
    try:
        code, err = run_train_inprocess(
            [*TINY, *paths(reliability_home), f"name={name}"], monkeypatch, capsys
        )
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    lines = [line for line in err.splitlines() if line.startswith("train:")]
    assert code == 2 and len(lines) == 1, err[-3000:]
    (run,) = (reliability_home / "outputs" / name / "part_detector").iterdir()
    best = run / "checkpoints" / "best.ckpt"  # the first checkpoint written
    assert lines[0].startswith(f"train: error: could not write checkpoint {best} ("), lines[0]
    assert "MiB free on its disk" in lines[0] and "Traceback" not in err
    assert list((run / "checkpoints").iterdir()) == []  # no partial file left behind
    assert (run / "error.txt").is_file()
    print(lines[0])
