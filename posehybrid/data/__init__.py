"""Data: joint sets, readers, synthetic generator, geometry, heat-map codec, DataModule.

Kept import-light on purpose (metrics import ``posehybrid.data.skeleton``): nothing heavy is
imported here. Use the submodules: ``skeleton``, ``records``, ``lsp``, ``flic``, ``synthetic``,
``transforms``, ``heatmaps``, ``dataset``, ``datamodule``, ``sources``, ``draw``.
"""

from __future__ import annotations

import os

# albumentations checks PyPI for a newer version on import (a network call, slow or hanging
# offline, on every DataLoader worker start). Reproducible runs need no network: opt out.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
