"""``python -m posehybrid.train stage=part_detector|spatial|joint [overrides]``.

Thin Hydra entry point; the work is in :mod:`posehybrid.training`, :mod:`posehybrid.pipeline` and
:mod:`posehybrid.ablation_run`.
Returns the optimised metric so Optuna sweeps can use it; in a multirun a failing job is logged
to its ``error.txt`` and the sweep goes on (:mod:`posehybrid.utils.sweeps`).

Bad input (config values, data, checkpoints, an unwritable or full output directory) and a
non-finite loss end a single run with one ``train: error: ...`` line on stderr (exit 2, or 1 for
a non-finite loss) and the traceback in ``<run>/error.txt``; a pre-empted run exits 143. A
mistyped key (``trainer.max_epoch=1``) is answered with the nearest existing key before Hydra
starts (:mod:`posehybrid.utils.overrides`).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

import posehybrid.utils.resolvers  # noqa: F401  (registers ${ph.*} resolvers)

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def train(cfg: DictConfig) -> float | None:
    """One stage (training its missing upstream stages first); returns the optimised metric."""
    from posehybrid.utils.validate import ConfigError, preflight

    preflight(cfg)  # before torch/Lightning are imported: bad values fail in a second
    from posehybrid.utils.console import setup_console
    from posehybrid.utils.overrides import trainer_key_problems

    problems = trainer_key_problems(cfg.trainer)  # +trainer.max_epoch=1: before any data work
    if problems:
        raise ConfigError(f"invalid configuration: {'; '.join(problems)}")
    setup_console()  # one handler per log line, no Lightning adverts
    from posehybrid.ablation_run import finish_pipeline
    from posehybrid.training import run_stage
    from posehybrid.utils.runtime import tune_allocator

    tune_allocator()
    from posehybrid.utils.sweeps import objective

    metrics = run_stage(cfg)
    finish_pipeline(cfg, metrics)
    return objective(metrics, cfg.optimized_metric)


def _message(err: BaseException) -> str:
    """The first line of the error a user can act on (Hydra wraps errors of ``_target_``s)."""
    from hydra.errors import InstantiationException

    if isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    text = str(err.args[0] if isinstance(err, KeyError) and err.args else err).strip()
    lines = text.splitlines() or [type(err).__name__]
    if "Original Traceback" in text:
        # Re-raised from a DataLoader worker: the real message is the traceback's last line,
        # "posehybrid.data.records.DataError: <message>".
        last = [line for line in lines if line.strip()][-1]
        return last.split(": ", 1)[1] if ": " in last else last
    return lines[0]


def main() -> float | None:
    """The command: mistyped keys fail in one line (nearest key named) before Hydra starts."""
    from posehybrid.utils.overrides import check_overrides

    check_overrides("train", sys.argv[1:], "train")
    return hydra_main()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    from hydra.errors import InstantiationException
    from omegaconf.errors import OmegaConfBaseException

    from posehybrid.utils.sweeps import run_guarded

    try:
        return run_guarded(cfg, train)
    except SystemExit as err:
        # Lightning's SIGTERMException exits with 0 when no PreemptionCheckpoint set the code
        # (e.g. a signal during testing): a pre-empted run must never look successful.
        if type(err).__name__ == "SIGTERMException" and err.code in (None, 0):
            sys.exit(143)
        raise
    except (ValueError, OSError, OmegaConfBaseException, InstantiationException) as err:
        _fail(cfg, err, 2)
    except RuntimeError as err:  # a non-finite loss or a failed upstream stage; else a bug
        from posehybrid.callbacks.guards import NonFiniteLossError
        from posehybrid.pipeline import UpstreamError

        if not isinstance(err, (NonFiniteLossError, UpstreamError)):
            raise
        _fail(cfg, err, 1)
    return None


def _fail(cfg: DictConfig, err: BaseException, code: int) -> None:
    """One stderr line, the traceback in the run's ``error.txt``, exit ``code``."""
    from posehybrid.utils.sweeps import record_failure

    where = ""
    with contextlib.suppress(Exception):  # an unwritable run directory is one of the errors
        where = f" (traceback in {record_failure(cfg, err)})"
    print(f"train: error: {_message(err)}{where}", file=sys.stderr, flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
