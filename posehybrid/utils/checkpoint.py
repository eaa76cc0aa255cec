"""Safe checkpoint I/O: atomic saves, ``weights_only=True`` loads, clear errors.

Lightning 2.6 loads with ``weights_only=False`` unless told otherwise, which unpickles arbitrary
code. Every load in posehybrid, Lightning's own resume/test loads included (through
:class:`SafeCheckpointIO`), goes through :func:`load_checkpoint`.
"""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from posehybrid.utils.io import atomic_write


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, unsafe, or of the wrong stage/model/joint set."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (a full disk, a quota, a file-size limit)."""


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


def _flatten(tree: Any, prefix: str) -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: list(tree) if isinstance(tree, tuple) else tree}


def model_config_differences(
    stored: dict[str, Any], requested: dict[str, Any], keys: Iterable[str] | None = None
) -> list[str]:
    """``"model.<key> (checkpoint A, requested B)"`` for every differing leaf of the model
    configs, within the top-level ``keys`` (default: all but ``name``)."""
    keys = [k for k in (stored.keys() | requested.keys()) if k != "name"] if keys is None else keys
    a = _flatten({k: stored.get(k) for k in keys}, "")
    b = _flatten({k: requested.get(k) for k in keys}, "")
    return [
        f"model.{k} (checkpoint {a.get(k)!r}, requested {b.get(k)!r})"
        for k in sorted(a.keys() | b.keys())
        if a.get(k) != b.get(k)
    ]


def stored_model_config(info: dict[str, Any]) -> dict[str, Any] | None:
    """The resolved ``model`` config a checkpoint was trained with (``posehybrid.model``,
    written by the ``ModelRecord`` callback), or from a checkpoint written before it existed,
    the model config of its ``init_kwargs`` block; None when it holds neither."""
    stored = info.get("model")
    if stored is None:
        stored = (info.get("init_kwargs") or {}).get("model_cfg")
    return stored if isinstance(stored, dict) else None


def expect_model_config(
    path: str | Path,
    info: dict[str, Any],
    requested: dict[str, Any],
    keys: Iterable[str] | None = None,
) -> None:
    """Refuse a checkpoint whose stored model config differs from ``requested`` in ``keys``
    (its weights would not load: ``size mismatch``), naming each differing key."""
    stored = stored_model_config(info)
    if stored is None:
        return  # written without one: nothing to compare, loading will tell
    diff = model_config_differences(stored, requested, keys)
    if diff:
        raise CheckpointError(
            f"checkpoint {path}: its model config differs from the requested one: "
            f"{'; '.join(diff)}. Use the checkpoint's values or another checkpoint"
        )


def best_checkpoints(ckpt: dict[str, Any]) -> list[str]:
    """The best-model checkpoints a Lightning checkpoint's ModelCheckpoint states refer to
    (a resumed run copies and finally tests them)."""
    paths: list[str] = []
    for key, state in (ckpt.get("callbacks") or {}).items():
        if not str(key).startswith("ModelCheckpoint") or not isinstance(state, dict):
            continue
        if state.get("monitor") is None:  # the last.ckpt writer: nothing it needs later
            continue
        for path in [state.get("best_model_path"), *(state.get("best_k_models") or {})]:
            if path and path not in paths:
                paths.append(str(path))
    return paths


def _free_mib(path: Path) -> float:
    for parent in (path, *path.parents):
        if parent.exists():
            return shutil.disk_usage(parent).free / 1024**2
    return float("nan")


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning CheckpointIO with atomic saves and ``weights_only=True`` loads."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        path = Path(path)
        try:
            atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))
        except (OSError, RuntimeError) as err:
            # A full disk reaches torch.save's C++ writer as "basic_ios::clear: iostream
            # error" or "PytorchStreamWriter failed writing file" (RuntimeError, not OSError).
            # The earlier checkpoints are untouched (atomic_write removed the partial file).
            detail = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
            raise CheckpointWriteError(
                f"could not write checkpoint {path} ({_free_mib(path.parent):.0f} MiB free on "
                f"its disk; a full disk or a file-size limit?): {detail}"
            ) from err

    def load_checkpoint(
        self,
        path: str | Path,
        map_location: Any | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        return load_checkpoint(path, map_location=map_location or "cpu")
