"""Pure ``nn.Module`` models (no Lightning/Hydra/data imports): detector, spatial model, priors."""

from posehybrid.models.flops import count_conv_flops, count_parameters
from posehybrid.models.graph import build_edges, neighbour_pairs
from posehybrid.models.lcn import LocalContrastNorm
from posehybrid.models.part_detector import PartDetector
from posehybrid.models.priors import displacement_histograms, init_kernels
from posehybrid.models.spatial_model import SpatialModel, softplus_inverse

__all__ = [
    "LocalContrastNorm",
    "PartDetector",
    "SpatialModel",
    "build_edges",
    "count_conv_flops",
    "count_parameters",
    "displacement_histograms",
    "init_kernels",
    "neighbour_pairs",
    "softplus_inverse",
]
