"""Safe checkpoint I/O: atomic saves, ``weights_only=True`` loads, clear errors.

Lightning 2.6 loads with ``weights_only=False`` unless told otherwise, which unpickles arbitrary
code. Every load in posehybrid, Lightning's own resume/test loads included (through
:class:`SafeCheckpointIO`), goes through :func:`load_checkpoint`.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from posehybrid.utils.io import atomic_write


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, unsafe, or of the wrong stage/model/joint set."""


def _unpickler_detail(text: str) -> str:
    """The line of torch's long weights-only error that says what was refused."""
    for line in text.splitlines():
        if "WeightsUnpickler error:" in line:
            detail = line.split("WeightsUnpickler error:", 1)[1].strip()
            return detail.split(". ", 1)[0]  # drop the add_safe_globals advice
    return text.strip().splitlines()[0] if text.strip() else ""


def _error_detail(err: BaseException) -> str:
    """The first sentence of a loader error when it is a message a person can read; "" for
    the unpickler's internal errors on garbage bytes (``KeyError: 101``, ``IndexError``,
    ``EOFError``), whose text is a stray number or nothing."""
    if isinstance(err, (KeyError, IndexError, EOFError)):
        return ""
    text = str(err).strip()
    first = text.splitlines()[0].split(". ", 1)[0].rstrip(".") if text else ""
    return first if " " in first else ""


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; refuse anything that needs unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        detail = _unpickler_detail(str(err))
        if "global" in detail.lower():  # a class/function reference: code that would run
            raise CheckpointError(
                f"checkpoint {path}: refused, it holds objects that would execute code when "
                f"unpickled (only tensors and plain containers are loaded; weights_only=True). "
                f"Detail: {detail}"
            ) from None
    except Exception as err:
        detail = _error_detail(err)
    else:
        if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
            raise CheckpointError(
                f"checkpoint {path}: expected a Lightning checkpoint with 'state_dict'"
            )
        return ckpt
    raise CheckpointError(
        f"checkpoint {path}: not a readable PyTorch checkpoint (truncated or not a "
        f"checkpoint file)" + (f": {detail}" if detail else "")
    )


def checkpoint_info(ckpt: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """The posehybrid block (stage, joint set, model config) a module stored in the checkpoint."""
    info = ckpt.get("posehybrid")
    if not isinstance(info, dict):
        raise CheckpointError(
            f"checkpoint {path}: not a posehybrid checkpoint (no 'posehybrid' key)"
        )
    return info


def expect_checkpoint(
    path: str | Path,
    stages: tuple[str, ...],
    joint_set: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load ``path`` and check it is from one of ``stages`` and, if given, for ``joint_set``."""
    ckpt = load_checkpoint(path)
    info = checkpoint_info(ckpt, path)
    if info.get("stage") not in stages:
        raise CheckpointError(
            f"checkpoint {path}: is from stage {info.get('stage')!r}, expected one of {list(stages)}"
        )
    if joint_set is not None and info.get("joint_set") != joint_set:
        raise CheckpointError(
            f"checkpoint {path}: was trained on joint set {info.get('joint_set')!r}, "
            f"but the data uses {joint_set!r}"
        )
    return ckpt, info


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning CheckpointIO with atomic saves and ``weights_only=True`` loads."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))

    def load_checkpoint(
        self,
        path: str | Path,
        map_location: Any | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        return load_checkpoint(path, map_location=map_location or "cpu")
