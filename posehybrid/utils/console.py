"""A quiet training console: one handler per log line, and no messages a user cannot act on.

* ``import lightning`` gives the ``lightning`` logger its own stream handler ("INFO: ...") and
  leaves it propagating to the root logger, where Hydra's console and ``train.log`` handlers
  print the same record again ("[...][INFO] - ..."). :func:`setup_console` removes Lightning's
  handler when the root logger has handlers of its own, so each line is printed once, in
  Hydra's format, and lands in ``train.log`` too.
* Lightning's "Tip: ... litlogger" advert and its note that a model summary callback is already
  configured (posehybrid configures its own, :mod:`posehybrid.callbacks.model_summary`) are
  dropped; so is a deprecation warning from inside Lightning about torch's pytree API.
"""

from __future__ import annotations

import logging
import warnings

# Substrings of Lightning log messages that carry no information for a posehybrid user.
NOISE = (
    "💡 Tip:",
    "Trainer already configured with model summary callbacks",
)
# Warnings raised inside Lightning about its own use of torch internals.
NOISY_WARNINGS = (r".*isinstance\(treespec, LeafSpec\)",)
LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")


class DropNoise(logging.Filter):
    """Drop records whose message contains one of :data:`NOISE`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in NOISE)


def setup_console() -> None:
    """Make Lightning log through the root logger's handlers only, without the noise above.

    Call after Hydra configured logging (inside the task function); idempotent.
    """
    import lightning  # noqa: F401  (its import adds the handler removed below)

    if logging.getLogger().hasHandlers():
        for name in LIGHTNING_LOGGERS:
            logger = logging.getLogger(name)
            for handler in list(logger.handlers):
                if type(handler) is logging.StreamHandler:  # Lightning's, not a file handler
                    logger.removeHandler(handler)
            logger.propagate = True
    # Logger filters see only records created by that logger itself: rank_zero_info logs
    # through these two.
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropNoise) for f in logger.filters):
            logger.addFilter(DropNoise())
    for pattern in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
