"""``python -m posehybrid.export ckpt=PATH [format=torchscript|onnx|both] [output=DIR]``.

Exports any stage as one graph ``image (B,3,H,W) float32 RGB in [0,1] -> (keypoints (B,J,2) in
*input* px, scores (B,J))``, decode included (argmax + sub-pixel refinement are plain tensor
ops). Writes ``model.ts`` (TorchScript, traced), ``model.onnx`` (opset >= 17, dynamic batch)
and ``export.json`` (sizes, stride, joint names, how to map keypoints back, verification).

The spatial model runs its *direct* convolution in exported graphs: ONNX has no ``rfft``
(``aten::fft_rfft`` is unsupported by the exporter) and the FFT path's custom autograd
function cannot be serialised by TorchScript. Both paths compute the same messages (tested in
``tests/models/test_spatial_model.py``); the gap is reported in ``export.json``.

The detector's batch norm is folded into its convolutions before export
(``models.fusion.fold_batch_norm``: no norm layers in the graphs; ``fold_bn=false``, given as
``+fold_bn=false``, keeps them). The folded model is checked against the unfolded one with the
same tolerances as the exported files (``verification.bn_folded_*``).

Every export is verified in the command: the exported file is loaded back and run (ONNX with
onnxruntime) on a batch size different from the traced one, and its outputs must equal
PyTorch's within ``tolerance`` (1e-4, scores) and ``keypoint_tolerance`` (1e-3 px), else exit 1:
scores everywhere, keypoints of every joint whose map has a clear maximum (on a flat map
round-off picks the pixel; such joints are counted as ``ambiguous_joints``). Bad input: one
stderr line, exit 2.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from torch import nn

import posehybrid.utils.resolvers  # noqa: F401  (registers ${ph.*} resolvers)
from posehybrid.inference import resolve_user_path
from posehybrid.utils.cli import user_errors

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")
FORMATS = {"torchscript": ("torchscript",), "onnx": ("onnx",), "both": ("torchscript", "onnx")}
log = logging.getLogger("posehybrid.export")


class ExportError(RuntimeError):
    """An exported model does not reproduce the PyTorch outputs."""


class KeypointModel(nn.Module):
    """Image -> keypoints (input px) and scores: a stage module's heat-maps and decode.

    Holds only the plain ``nn.Module``s (tracing a LightningModule touches its ``trainer``);
    decoding is the stage module's own ``decode``, kept as a plain callable.

    Args:
        module: a loaded stage module (``posehybrid.modules.load.load_module``).
        spatial_method: ``"direct"`` (exportable) or ``"fft"`` (the training path).
    """

    def __init__(self, module: Any, spatial_method: str = "direct") -> None:
        super().__init__()
        self.detector = module.detector
        self.spatial = getattr(module, "spatial", None)
        self.spatial_method = spatial_method
        self.__dict__["_decode"] = module.decode  # not a submodule: never traced into

    def maps(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B,3,H,W) -> {"detector": (B,J,h,w), "spatial"?: (B,J,h,w)}."""
        e = self.detector(image)
        if self.spatial is None:
            return {"detector": e}
        return {"detector": e, "spatial": self.spatial(e, method=self.spatial_method)}

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._decode(self.maps(image))


def decisive(maps: dict[str, torch.Tensor], gap: float = 1e-4) -> torch.Tensor:
    """(B,J) bool: the decoded map's maximum beats its runner-up by more than ``gap``.

    Where it does not (a flat map: e.g. a detector map <= 0 everywhere, which the spatial
    model's ReLU turns into a plateau), which pixel wins is decided by round-off, so the
    keypoint of that joint is not a meaningful thing to compare between runtimes.
    """
    m = maps.get("spatial", maps["detector"]).flatten(2)
    top = m.topk(2, dim=-1).values
    return (top[..., 0] - top[..., 1]) > gap


def diffs(
    got: tuple[torch.Tensor, ...], want: tuple[torch.Tensor, ...], keep: torch.Tensor
) -> tuple[float, float]:
    """(max keypoint |difference| in input px over decisive joints (``keep`` (B,J)), max score
    difference).

    Score differences are relative once a score exceeds 1 in magnitude: spatial-model scores are
    logits summed over up to J*J pairs (tens of nats), where float32 round-off alone is ~1e-5.
    Keypoints get their own tolerance: the sub-pixel parabola divides by a curvature, which
    amplifies that round-off to ~1e-4 px.
    """
    kps = (torch.as_tensor(got[0]) - want[0]).abs().amax(dim=-1)[keep]
    scores = (torch.as_tensor(got[1]) - want[1]).abs() / want[1].abs().clamp(min=1.0)
    return (float(kps.max()) if kps.numel() else 0.0), float(scores.max())


def max_diff(
    got: tuple[torch.Tensor, ...], want: tuple[torch.Tensor, ...], keep: torch.Tensor
) -> float:
    """The larger of :func:`diffs`."""
    return max(diffs(got, want, keep))


def _check(
    name: str, diff: tuple[float, float], tolerance: float, keypoint_tolerance: float
) -> tuple[float, float]:
    kp, score = diff
    log.info(
        "%s: max |exported - pytorch| keypoints %.3g px (tolerance %g), scores %.3g (tolerance %g)",
        name, kp, keypoint_tolerance, score, tolerance,
    )  # fmt: skip
    if not (kp <= keypoint_tolerance and score <= tolerance):
        raise ExportError(
            f"{name}: exported outputs differ from PyTorch by {kp:.3g} px (keypoints) and "
            f"{score:.3g} (scores)"
        )
    return kp, score


def export_torchscript(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    from posehybrid.utils.io import atomic_write

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings for the shape checks: shapes are fixed
        traced = torch.jit.trace(model, example, check_trace=False)
    atomic_write(path, lambda tmp: traced.save(str(tmp)))


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    from posehybrid.utils.io import atomic_write

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The TorchScript-based exporter (dynamo=False): the dynamo one needs onnxscript.
            torch.onnx.export(
                model,
                (example,),
                str(tmp),
                dynamo=False,
                opset_version=opset,
                input_names=["image"],
                output_names=["keypoints", "scores"],
                dynamic_axes={n: {0: "batch"} for n in ("image", "keypoints", "scores")},
            )

    atomic_write(path, write)


def run_onnx(path: Path, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return tuple(torch.from_numpy(o) for o in session.run(None, {"image": image.numpy()}))


def run(cfg: DictConfig) -> dict[str, Any]:
    """Export, verify, write ``export.json``; returns its content."""
    from posehybrid.modules.load import load_module
    from posehybrid.utils.io import atomic_write_json

    if not cfg.ckpt:
        raise ValueError("ckpt=PATH is required (a checkpoint of any stage)")
    fmt = str(cfg.format)
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {fmt!r}")
    opset = int(cfg.opset)
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    method = str(cfg.spatial_method)
    if method not in ("direct", "fft"):
        raise ValueError(f"spatial_method must be direct or fft, got {method!r}")
    if method == "fft" and "onnx" in FORMATS[fmt]:
        raise ValueError("spatial_method=fft cannot be exported to ONNX (no rfft); use direct")
    if "onnx" in FORMATS[fmt]:
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            raise ValueError(
                "format=onnx needs onnx and onnxruntime: pip install -e '.[onnx]'"
            ) from None
    ckpt = resolve_user_path(cfg.ckpt)
    fold_bn = bool(cfg.fold_bn)
    module = load_module(ckpt, fold_bn=fold_bn)
    out_dir = resolve_user_path(cfg.output) if cfg.output else None
    out_dir = out_dir or Path(HydraConfig.get().runtime.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tolerance = float(cfg.tolerance)
    keypoint_tolerance = float(cfg.keypoint_tolerance)

    model = KeypointModel(module, method).eval()
    w, h = module.codec.input_size
    gen = torch.Generator().manual_seed(0)
    example = torch.rand(2, 3, h, w, generator=gen)
    check = torch.rand(3, 3, h, w, generator=gen)  # another batch size: the batch axis is free
    with torch.inference_mode():
        maps = model.maps(check)
        expected = model._decode(maps)
        training_path = module.decode(module.heatmaps(check))
    keep = decisive(maps)
    verification: dict[str, float] = {"ambiguous_joints": int((~keep).sum())}
    if getattr(module, "spatial", None) is not None:
        verification["direct_vs_fft_max_abs"] = max_diff(training_path, expected, keep)
    if fold_bn:  # the folded model against the checkpoint's own layers
        unfolded = KeypointModel(load_module(ckpt, fold_bn=False), method).eval()
        with torch.inference_mode():
            as_trained = unfolded(check)
        kp, score = _check(
            "batch-norm folding", diffs(expected, as_trained, keep), tolerance, keypoint_tolerance
        )
        verification["bn_folded_max_abs"] = score
        verification["bn_folded_keypoint_max_px"] = kp
    files = {}
    with torch.no_grad():
        if "torchscript" in FORMATS[fmt]:
            path = out_dir / "model.ts"
            export_torchscript(model, example, path)
            got = torch.jit.load(str(path))(check)
            kp, score = _check(
                "torchscript", diffs(got, expected, keep), tolerance, keypoint_tolerance
            )
            verification["torchscript_max_abs"] = score
            verification["torchscript_keypoint_max_px"] = kp
            files["torchscript"] = path.name
        if "onnx" in FORMATS[fmt]:
            path = out_dir / "model.onnx"
            export_onnx(model, example, path, opset)
            got = run_onnx(path, check)
            kp, score = _check("onnx", diffs(got, expected, keep), tolerance, keypoint_tolerance)
            verification["onnx_max_abs"] = score
            verification["onnx_keypoint_max_px"] = kp
            files["onnx"] = path.name
    codec = module.codec
    info = {
        "checkpoint": str(ckpt),
        "stage": module.stage_name,
        "joint_set": module.joint_set.name,
        "joints": list(module.joint_set.joints),
        "input_size": list(codec.input_size),
        "heatmap_size": list(codec.heatmap_size),
        "stride": list(codec.stride),
        "files": files,
        "opset": opset if "onnx" in files else None,
        "spatial_method": method if getattr(module, "spatial", None) is not None else None,
        "batch_norm": {
            "folded": int(getattr(module.detector, "folded_batch_norms", 0)),
            "kept": sum(isinstance(m, nn.BatchNorm2d) for m in module.detector.modules()),
        },
        "inputs": {"image": "(B,3,H,W) float32 RGB in [0,1], letterboxed to input_size"},
        "outputs": {
            "keypoints": "(B,J,2) float32 x,y in input px (pixel centres); map back to the "
            "original image with the inverse of the letterbox affine",
            "scores": "(B,J) float32 map value at the argmax (higher = more confident)",
        },
        "tolerance": tolerance,
        "keypoint_tolerance": keypoint_tolerance,
        "verification": verification,
    }
    atomic_write_json(out_dir / "export.json", info)
    return {"output_dir": str(out_dir), **info}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    with user_errors("export"):
        try:
            info = run(cfg)
        except ExportError as err:
            print(f"export: verification failed: {err}", file=sys.stderr)
            sys.exit(1)
    keys = ("output_dir", "stage", "files", "input_size", "verification")
    print(json.dumps({k: info[k] for k in keys}))


if __name__ == "__main__":
    main()
