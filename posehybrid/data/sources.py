"""Record sources: where a ``PoseDataModule`` gets its train/test records.

Each ``conf/data/*.yaml`` picks one by ``_target_`` (no string switch). A source is a small
object with ``prepare(root)`` (download/generate, run once on rank 0) and
``load(root, split) -> list[PoseRecord]`` for ``split`` in ``"train"``/``"test"``; the
DataModule carves validation from ``"train"`` itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from posehybrid.data.records import PoseRecord

SPLITS = ("train", "test")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")


class RecordSource:
    """Base class: no preparation, ``load`` must be overridden."""

    def prepare(self, root: Path) -> None:
        """Create the data on disk if this source can (synthetic); default: nothing."""

    def load(self, root: Path, split: str) -> list[PoseRecord]:
        raise NotImplementedError

    def describe(self, root: Path) -> str:
        """The folder(s) the records come from, for messages and summaries."""
        return str(root)


class LSPSource(RecordSource):
    """LSP: train = first 1000 images, test = last 1000 (``lsp_split``)."""

    def __init__(self) -> None:
        self._cache: dict[str, list[PoseRecord]] = {}

    def _all(self, root: Path) -> list[PoseRecord]:
        from posehybrid.data.lsp import read_lsp

        key = str(root)
        if key not in self._cache:
            self._cache[key] = read_lsp(root)
        return self._cache[key]

    def load(self, root: Path, split: str) -> list[PoseRecord]:
        from posehybrid.data.lsp import lsp_split

        _check_split(split)
        return lsp_split(self._all(root), split)


class LSPetSource(RecordSource):
    """LSPet alone. It has no official test split, so the last ``test_size`` images test.

    For the standard protocol (train LSPet + LSP train, test LSP test) use ``LSPFullSource``.
    """

    def __init__(self, test_size: int = 1000) -> None:
        self.test_size = int(test_size)
        self._cache: dict[str, list[PoseRecord]] = {}

    def load(self, root: Path, split: str) -> list[PoseRecord]:
        from posehybrid.data.lsp import read_lspet

        _check_split(split)
        key = str(root)
        if key not in self._cache:
            self._cache[key] = read_lspet(root)
        recs = self._cache[key]
        cut = max(len(recs) - self.test_size, 0)
        return list(recs[:cut] if split == "train" else recs[cut:])


class LSPFullSource(RecordSource):
    """The usual LSP protocol: train = LSPet 10k + LSP train 1k, test = LSP test 1k.

    Args:
        lsp_root: the LSP folder; None -> ``<root>/lsp``.
        lspet_root: the LSPet folder; None -> ``<root>/lspet``.
    """

    def __init__(
        self, lsp_root: str | os.PathLike | None = None, lspet_root: str | os.PathLike | None = None
    ) -> None:
        self.lsp_root = lsp_root
        self.lspet_root = lspet_root
        self._lsp = LSPSource()
        self._lspet = LSPetSource(test_size=0)

    def roots(self, root: Path) -> tuple[Path, Path]:
        lsp = Path(self.lsp_root) if self.lsp_root else root / "lsp"
        lspet = Path(self.lspet_root) if self.lspet_root else root / "lspet"
        return lsp.expanduser(), lspet.expanduser()

    def load(self, root: Path, split: str) -> list[PoseRecord]:
        _check_split(split)
        lsp, lspet = self.roots(root)
        if split == "test":
            return self._lsp.load(lsp, "test")
        return self._lspet.load(lspet, "train") + self._lsp.load(lsp, "train")

    def describe(self, root: Path) -> str:
        lsp, lspet = self.roots(root)
        return f"{lsp} + {lspet}"


class FLICSource(RecordSource):
    """FLIC: ``istrain`` / ``istest``, person-centric (``pc``) or observer-centric (``oc``) labels."""

    def __init__(self, labels: str = "pc") -> None:
        if labels not in ("pc", "oc"):
            raise ValueError(f"FLIC labels must be 'pc' or 'oc', got {labels!r}")
        self.labels = labels

    def load(self, root: Path, split: str) -> list[PoseRecord]:
        from posehybrid.data.flic import read_flic

        _check_split(split)
        return read_flic(root, split=split, labels=self.labels)


class SyntheticSource(RecordSource):
    """Synthetic figures written in the LSP format, then read by the real LSP reader.

    The folder is generated once under ``root`` (cached by its parameters); the first half of
    the images trains and the second half tests, as in LSP.

    Args:
        n_images: total images (train + test).
        seed: generator seed.
        image_size: side of the square images in px.
        difficulty: extra keyword arguments for ``ensure_synthetic``.
    """

    def __init__(
        self, n_images: int = 2000, seed: int = 0, image_size: int = 128, **difficulty: Any
    ) -> None:
        self.n_images = int(n_images)
        self.seed = int(seed)
        self.image_size = int(image_size)
        self.difficulty = dict(difficulty)
        self._lsp = LSPSource()
        self._folder: dict[str, Path] = {}
        self._views: list[str] | None = None  # lsp_views, computed on the first load

    def folder(self, root: Path) -> Path:
        """The generated folder under ``root`` (generated on first use, then cached)."""
        from posehybrid.data.synthetic import ensure_synthetic

        if str(root) not in self._folder:
            self._folder[str(root)] = Path(
                ensure_synthetic(
                    root,
                    n_images=self.n_images,
                    seed=self.seed,
                    image_size=self.image_size,
                    **self.difficulty,
                )
            )
        return self._folder[str(root)]

    def prepare(self, root: Path) -> None:
        self.folder(root)

    def load(self, root: Path, split: str) -> list[PoseRecord]:
        """The LSP reader's records, each with its figure's view in ``meta["view"]``
        (``front``, ``back`` or ``profile``: ``eval by=view`` scores each view apart)."""
        from posehybrid.data.synthetic import lsp_views

        _check_split(split)
        records = self._lsp.load(self.folder(root), split)
        if self._views is None:
            self._views = lsp_views(self.n_images, self.seed, self.image_size, **self.difficulty)
        for rec in records:  # meta["id"]: the LSP reader's 1-based image number
            rec.meta = {**(rec.meta or {}), "view": self._views[int(rec.meta["id"]) - 1]}
        return records

    def describe(self, root: Path) -> str:
        # Never generate just to name the folder: before prepare/load it is the parent root.
        return str(self._folder.get(str(root), root))


class SyntheticFLICSource(RecordSource):
    """Synthetic frames written in the FLIC format, then read by the real FLIC reader.

    Args:
        n_images: number of FLIC examples (frames) to generate.
        seed: generator seed.
        labels: ``pc`` or ``oc``.
        options: extra keyword arguments for ``ensure_synthetic_flic``.
    """

    def __init__(
        self, n_images: int = 1000, seed: int = 0, labels: str = "pc", **options: Any
    ) -> None:
        self.n_images = int(n_images)
        self.seed = int(seed)
        self.options = dict(options)
        self._flic = FLICSource(labels)
        self._folder: dict[str, Path] = {}

    def folder(self, root: Path) -> Path:
        """The generated folder under ``root`` (generated on first use, then cached)."""
        from posehybrid.data.synthetic import ensure_synthetic_flic

        if str(root) not in self._folder:
            self._folder[str(root)] = Path(
                ensure_synthetic_flic(root, n_frames=self.n_images, seed=self.seed, **self.options)
            )
        return self._folder[str(root)]

    def prepare(self, root: Path) -> None:
        self.folder(root)

    def load(self, root: Path, split: str) -> list[PoseRecord]:
        return self._flic.load(self.folder(root), split)

    def describe(self, root: Path) -> str:
        # Never generate just to name the folder: before prepare/load it is the parent root.
        return str(self._folder.get(str(root), root))
