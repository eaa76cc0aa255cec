"""``posehybrid.pooled``: the ablation rows of several splits pooled over all their test
images, with paired intervals over them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posehybrid.ablation_run import PER_IMAGE_FILE
from posehybrid.pooled import concatenate, main, pooled_table


def _record(correct: list[list[int]], counted: list[int]) -> dict:
    return {"alphas": ["0.1", "0.2"], "index": list(range(len(counted))),
            "correct": correct, "counted": counted}  # fmt: skip


def _split(root: Path, name: str, rows: dict[str, dict | None]) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / PER_IMAGE_FILE).write_text(json.dumps({"data_fingerprint": name, "rows": rows}))
    return d


def test_rows_pool_over_every_split_and_differences_are_paired(tmp_path: Path) -> None:
    # split a: 2 images of 4 counted joints; split b: 1 image of 2
    a = _split(tmp_path, "a", {
        "part_detector": _record([[1, 2], [0, 1]], [4, 4]),
        "spatial": _record([[1, 3], [1, 2]], [4, 4]),
        "joint": None,  # a row from before per-image counts: left out
    })  # fmt: skip
    b = _split(tmp_path, "b", {
        "part_detector": _record([[0, 1]], [2]),
        "spatial": _record([[1, 2]], [2]),
        "control (detector trained longer)": _record([[0, 0]], [2]),  # not in every split
    })  # fmt: skip
    table = pooled_table([a, b], resamples=200, confidence=0.9)
    rows = {r["stage"]: r for r in table["stages"]}
    assert list(rows) == ["part_detector", "spatial"]
    # detector: (2 + 1 + 1) / 10 at @0.2, (1 + 0 + 0) / 10 at @0.1; spatial 7/10 and 3/10
    assert rows["part_detector"]["pck@0.2"] == pytest.approx(0.4)
    assert rows["part_detector"]["pck@0.1"] == pytest.approx(0.1)
    assert rows["spatial"]["pck@0.2"] == pytest.approx(0.7)
    (diff,) = table["differences"]
    assert (diff["a"], diff["b"], diff["images"]) == ("spatial", "part_detector", 3)
    d = diff["pck@0.2"]
    assert d["delta"] == pytest.approx(0.3) and d["low"] <= 0.3 <= d["high"]


def test_concatenated_images_stay_distinct() -> None:
    one = concatenate([_record([[1, 1], [0, 1]], [3, 3]), _record([[1, 1]], [2])])
    assert one["index"] == [0, 1, 2] and one["counted"] == [3, 3, 2]
    with pytest.raises(ValueError, match="different thresholds"):
        concatenate([_record([[1, 1]], [2]), {**_record([[1]], [2]), "alphas": ["0.2"]}])


def test_a_split_without_counts_is_one_line(tmp_path: Path, capsys) -> None:
    a = _split(tmp_path, "a", {"spatial": _record([[1, 1]], [2])})
    (tmp_path / "old").mkdir()
    assert main([str(a), str(tmp_path / "old")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pooled: error:") and PER_IMAGE_FILE in err[0]


def test_one_test_set_twice_is_refused(tmp_path: Path) -> None:
    rows = {"spatial": _record([[1, 1]], [2])}
    a, b = _split(tmp_path, "a", rows), _split(tmp_path, "b", rows)
    (b / PER_IMAGE_FILE).write_text(json.dumps({"data_fingerprint": "a", "rows": rows}))
    with pytest.raises(ValueError, match="same data fingerprint"):
        pooled_table([a, b], resamples=10, confidence=0.9)


def test_the_table_is_printed_and_written(tmp_path: Path, capsys) -> None:
    rows = {"part_detector": _record([[0, 1]], [2]), "spatial": _record([[1, 2]], [2])}
    a, b = _split(tmp_path, "a", rows), _split(tmp_path, "b", rows)
    assert main([str(a), str(b), "--out", str(tmp_path / "pooled"), "--resamples", "50"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# Ablation: pooled over a, b") and "| spatial − part_detector |" in text
    assert "| stage | PCK@0.1 | PCK@0.2 |\n" in text  # no minutes column: nothing was timed
    assert (tmp_path / "pooled.md").read_text() == text
    assert json.loads((tmp_path / "pooled.json").read_text())["stages"][1]["pck@0.2"] == 1.0
