"""The LSPet reader on genuine files: the 200 LSPet photographs in ``../shared/real/lspet200``
(beside the repository; never copied into it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from posehybrid.data.images import read_image
from posehybrid.data.lsp import read_lspet

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
ROOT = SHARED / "real" / "lspet200"

pytestmark = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"{SHARED} is absent: the genuine LSPet images are not here"
)


def test_reader_gives_200_records_with_the_files_visible_fraction() -> None:
    records = read_lspet(ROOT)
    assert len(records) == 200
    # independent of the reader: LSPet's flag row, 1 = visible, in the (14, 3, N) layout
    flags = scipy.io.loadmat(str(ROOT / "joints.mat"))["joints"][:, 2, :]
    visible = np.mean([r.visible.mean() for r in records])
    assert visible == pytest.approx(float((flags == 1).mean()))
    assert (
        records[0].image_path.name == "im00001.jpg" and records[-1].image_path.name == "im00200.jpg"
    )
    for r in records:
        assert np.isfinite(r.keypoints).all() and r.annotated[r.visible].all()


def test_a_genuine_image_decodes() -> None:
    image = read_image(read_lspet(ROOT)[0].image_path)
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
