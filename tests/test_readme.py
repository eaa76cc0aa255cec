"""The README's Python API snippets run as written, and the ONNX recipe (letterbox, inverse
affine) reproduces ``posehybrid.load(ckpt).predict``."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.test_export import tiny_checkpoint
from tests.test_predict import _picture

REPO = Path(__file__).resolve().parents[1]


def python_blocks(section: str) -> list[str]:
    """The ```python blocks of README section ``## <section>``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a user has after ``make train`` and ``make export``: outputs/<exp>/joint/<ts>/
    with a checkpoint, and exported/ with model.onnx + export.json."""
    pytest.importorskip("onnxruntime")
    from posehybrid.export import run as export_run
    from tests.test_export import export_cfg

    root = tmp_path_factory.mktemp("readme")
    ckpt = tiny_checkpoint(
        root / "outputs/default/joint/2026-01-01_00-00-00_0/checkpoints/best.ckpt"
    )
    export_run(export_cfg(ckpt, root / "exported", format="onnx"))
    return root


def test_readme_has_the_snippets() -> None:
    blocks = python_blocks("Python API")
    assert len(blocks) == 2
    assert "posehybrid.load(" in blocks[0] and "ort.InferenceSession" in blocks[1]


# a photo bigger than the 64x64 test model's input (the area-filter branch) and a smaller one
@pytest.mark.parametrize("size", [(300, 180), (40, 52)])
def test_readme_python_api_snippets_run_and_agree(
    workdir: Path, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    cv2.imwrite(str(workdir / "photo.jpg"), _picture(*size))
    monkeypatch.chdir(workdir)
    api, onnx = ({}, {})
    api_code, onnx_code = python_blocks("Python API")
    exec(compile(api_code, "README:Python API", "exec"), api)
    exec(compile(onnx_code, "README:ONNX", "exec"), onnx)
    out = capsys.readouterr().out
    assert "left wrist at (" in out and "raw score" in out
    joints, batch = api["joints"], api["batch"]
    assert len(batch) == 2 and batch[0] == joints
    assert all(0.0 <= c <= 1.0 for _, _, c in joints.values())
    # the ONNX recipe gives the API's keypoints (without flip: the export has no TTA; in fp32:
    # the export is, and precision=auto may run the detector in bf16)
    plain = api["posehybrid"].load(api["ckpt"], precision="32-true").predict("photo.jpg")
    want = np.array([(x, y) for x, y, _ in plain.values()])
    np.testing.assert_allclose(onnx["xy"], want, atol=1e-2)
