"""Multi-resolution ConvNet part detector (Tompson, Jain, LeCun & Bregler, NIPS 2014, Fig. 4).

Each resolution bank b (b = 0 full resolution, 1 = 1/2, 2 = 1/4) sees the image average-pooled by
2^b and local-contrast-normalised, then

    conv k×k + ReLU + maxpool 2   (channels[0])
    conv k×k + ReLU + maxpool 2   (channels[1])
    conv k×k + ReLU               (bank_channels; paper 128)
    conv wide×wide + ReLU         (wide_channels; paper 512 at 9×9 = the sliding window's FC layer)

All convolutions use 'same' padding, so bank b's output is (H/2^b)/4 × (W/2^b)/4. Lower banks are
upsampled (nearest, the paper's "point-wise upscale") to the top bank's size and *added*. A head of
two conv + ReLU layers and a 1×1 conv produces J heat-maps at stride 4.

Inputs whose sides are multiples of 4 but not of 4·2^(banks-1) (FLIC's 360×240 with 3 banks) are
padded on the right/bottom internally and the output is cropped back to exactly (H/4, W/4); since
padding is only right/bottom, output pixel i always covers input pixels 4i..4i+3, i.e. its centre
is input coordinate (i + 0.5)·4 − 0.5, the heat-map codec's convention.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posehybrid.models.lcn import LocalContrastNorm

NormFactory = Callable[[int], nn.Module]


def _conv(cin: int, cout: int, k: int, bias: bool = True) -> nn.Conv2d:
    if k % 2 == 0:
        raise ValueError(f"'same' padding needs odd kernel sizes, got {k}")
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


def _norm(norm: NormFactory | None, channels: int) -> list[nn.Module]:
    return [] if norm is None else [norm(channels)]


class _Bank(nn.Module):
    """One resolution bank: (B,3,h,w) LCN'd image -> (B,wide_channels,h/4,w/4)."""

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        bank_channels: int,
        wide_channels: int,
        conv_kernel: int,
        wide_kernel: int,
        norm: NormFactory | None = None,
    ) -> None:
        super().__init__()
        c0, c1 = channels
        bias = norm is None  # a following norm layer's shift makes the conv bias redundant
        # Pool *before* ReLU (and norm): max-pool commutes with the monotonic ReLU, so this is
        # the same function, but the norm, the ReLU and their backward touch 4x fewer elements.
        self.features = nn.Sequential(
            _conv(in_channels, c0, conv_kernel, bias),
            nn.MaxPool2d(2),
            *_norm(norm, c0),
            nn.ReLU(inplace=True),
            _conv(c0, c1, conv_kernel, bias),
            nn.MaxPool2d(2),
            *_norm(norm, c1),
            nn.ReLU(inplace=True),
            _conv(c1, bank_channels, conv_kernel, bias),
            *_norm(norm, bank_channels),
            nn.ReLU(inplace=True),
            _conv(bank_channels, wide_channels, wide_kernel, bias),
            *_norm(norm, wide_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


class PartDetector(nn.Module):
    """ConvNet part detector producing J heat-maps at stride 4.

    Args:
        num_joints: J, number of output heat-maps.
        banks: number of resolution banks (1–3 typical; the paper's best is 3).
        channels: output channels of the two conv+pool layers of each bank (paper: not stated
            explicitly; a small pair such as (16, 32) suffices).
        conv_kernel: kernel of the three per-bank convolutions (paper 5).
        bank_channels: channels of the third per-bank conv (paper 128).
        wide_channels: channels of the wide conv (paper 512).
        wide_kernel: kernel of the wide conv (paper 9).
        head_channels: channels of the two head conv layers.
        head_kernel: kernel of the two head conv layers (paper figure 9; 1 is much cheaper).
        lcn_kernel: Gaussian window of the per-bank local contrast normalisation.
        in_channels: image channels (3).
        channels_last: keep weights and activations NHWC (faster convolutions on CPU and GPU);
            the output is always a contiguous NCHW tensor.
        norm: optional factory ``channels -> nn.Module`` (e.g. ``functools.partial(
            nn.BatchNorm2d)``) inserted before every hidden ReLU. ``None`` is the paper (2014,
            before batch norm); a norm layer makes the small CPU preset converge in fewer steps.
            For inference, ``models.fusion.fold_batch_norm`` folds eval-mode batch norm into
            the convolution before it (through a max-pool only where all of a layer's scales
            are non-negative; other layers stay as they are).

    Shapes: ``forward(x (B,3,H,W)) -> (B,J,H/4,W/4)``; H and W must be multiples of 4.
    """

    stride: int = 4

    def __init__(
        self,
        num_joints: int,
        banks: int = 3,
        channels: Sequence[int] = (16, 32),
        conv_kernel: int = 5,
        bank_channels: int = 128,
        wide_channels: int = 512,
        wide_kernel: int = 9,
        head_channels: int = 256,
        head_kernel: int = 1,
        lcn_kernel: int = 9,
        in_channels: int = 3,
        channels_last: bool = True,
        norm: NormFactory | None = None,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) != 2:
            raise ValueError(f"channels must list the 2 conv+pool layers' widths, got {channels}")
        if banks < 1:
            raise ValueError(f"banks must be >= 1, got {banks}")
        self.num_joints = num_joints
        self.banks = banks
        self.in_channels = in_channels
        self.lcn = LocalContrastNorm(in_channels, lcn_kernel)
        self.bank_layers = nn.ModuleList(
            _Bank(
                in_channels, channels, bank_channels, wide_channels, conv_kernel, wide_kernel, norm
            )
            for _ in range(banks)
        )
        bias = norm is None
        self.head = nn.Sequential(
            _conv(wide_channels, head_channels, head_kernel, bias),
            *_norm(norm, head_channels),
            nn.ReLU(inplace=True),
            _conv(head_channels, head_channels, head_kernel, bias),
            *_norm(norm, head_channels),
            nn.ReLU(inplace=True),
        )
        self.out = nn.Conv2d(head_channels, num_joints, 1)
        self.channels_last = channels_last
        self.reset_parameters()
        if channels_last:
            # oneDNN (CPU) and cuDNN run NHWC convolutions faster (measured ~1.3x on CPU here).
            self.to(memory_format=torch.channels_last)

    @property
    def multiple(self) -> int:
        """Internal size multiple: the lowest bank is pooled 2^(banks-1) times, then by 4."""
        return self.stride * 2 ** (self.banks - 1)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        # Start with outputs ≈ 0: Gaussian targets are almost everywhere 0, so MSE starts low and
        # the first steps learn where the peaks are instead of first pulling a big offset down.
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        """(B,C,H,W) image in [0,1] -> (B,J,H/4,W/4) heat-maps."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected (B,{self.in_channels},H,W) input, got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % self.stride or w % self.stride:
            raise ValueError(
                f"input height and width must be multiples of the stride {self.stride}, got "
                f"{h}x{w} (H x W)"
            )
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            # Right/bottom only, so output pixel i keeps covering input pixels 4i..4i+3.
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        y: Tensor | None = None
        for b, bank in enumerate(self.bank_layers):
            xb = F.avg_pool2d(x, 2**b) if b else x
            xb = self.lcn(xb)  # in NCHW: its 3-channel depthwise filters are faster so
            if self.channels_last:  # ... and NHWC for the learned convolutions
                xb = xb.contiguous(memory_format=torch.channels_last)
            fb = bank(xb)
            if b:
                fb = F.interpolate(fb, scale_factor=2**b, mode="nearest")
            y = fb if y is None else y + fb
        assert y is not None
        out = self.out(self.head(y))
        if ph or pw:
            out = out[..., : h // self.stride, : w // self.stride]
        return out.contiguous()  # plain NCHW heat-maps for losses, FFTs and decoding


__all__ = ["PartDetector"]
