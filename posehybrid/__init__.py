"""posehybrid: a ConvNet part detector + MRF spatial model (Tompson et al. 2014).

The Python API for a trained model (see the README's "Python API")::

    import posehybrid

    model = posehybrid.load("outputs/default/joint/<ts>/checkpoints/best.ckpt")
    joints = model.predict("photo.jpg")  # {"r_ankle": (x, y, confidence), ...}, original px

Importing the package registers the configs' schema and ``${ph.*}`` resolvers (every
``python -m posehybrid.<command>`` imports it first); torch is imported only by :func:`load`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import posehybrid.schema  # registers the config schema in Hydra's ConfigStore
import posehybrid.utils.resolvers  # noqa: F401  (registers ${ph.*} resolvers)

if TYPE_CHECKING:
    from posehybrid.api import Predictor

__all__ = ["load"]


def load(ckpt: Any, **options: Any) -> Predictor:
    """A :class:`posehybrid.api.Predictor` for the checkpoint ``ckpt`` (any stage).

    ``options``: ``device`` (``auto``/``cpu``/``cuda[:N]``), ``flip`` (bool), ``scales``
    (e.g. ``(1.0, 0.8, 1.2)``), ``batch_size``; see :func:`posehybrid.api.load`.
    """
    from posehybrid.api import load as _load

    return _load(ckpt, **options)
