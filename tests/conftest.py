"""Suite-wide hygiene: in-process ``@hydra.main`` runs (the CLI tests that call
``posehybrid.train.main`` directly, to stay fast) leave Hydra's process-global ``HydraConfig``
set; later tests would then read that run's overrides as their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig


@pytest.fixture(autouse=True)
def _reset_hydra_globals() -> Iterator[None]:
    yield
    HydraConfig.instance().cfg = None  # type: ignore[assignment]
    GlobalHydra.instance().clear()
