"""Mistyped configuration keys, caught before any work with the nearest existing key named.

Hydra answers ``trainer.max_epoch=1`` with "Key 'max_epoch' is not in struct ... use
+trainer.max_epoch=1": following that advice adds a key no code reads, and the run prepares
its data before ``Trainer.__init__`` rejects it. So:

* :func:`check_overrides` (before Hydra composes the job) looks up every ``key=value`` of the
  command line in the composed config and, for one that does not exist, prints
  ``train: error: no config key 'trainer.max_epoch' (did you mean 'trainer.max_epochs'?)``
  and exits 2;
* :func:`trainer_key_problems` (in the job, before any data work) lists ``trainer.*`` keys that
  are not arguments of the Lightning ``Trainer``, ``+trainer.max_epoch=1`` included.
"""

from __future__ import annotations

import difflib
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"
# Override keys that are bookkeeping, not what a run computes: machine paths, upstream
# checkpoint paths, logging, callbacks, resumption, thread counts. Run names
# (utils/loggers.short_overrides) and compare's difference columns both leave them out.
BOOKKEEPING_PREFIXES: tuple[str, ...] = (
    "stage.init.", "paths.", "hydra.", "logger", "callbacks", "resume", "ckpt_path",
    "auto_upstream", "threads",
)  # fmt: skip
# Hydra flags that take a value (the next argument), and flags after which the command is not
# a normal run of this config (another config, help, shell completion): no check then.
_VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--info", "-i"}
_OTHER_CONFIG = {"--config-name", "-cn", "--config-path", "-cp", "--config-dir", "-cd",
                 "--help", "-h", "--hydra-help", "--shell-completion", "-sc",
                 "--experimental-rerun"}  # fmt: skip
_MISSING = object()


def _overrides(argv: Sequence[str]) -> list[str] | None:
    """The override arguments of ``argv`` (flags dropped); None when no check applies."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg.split("=", 1)[0] in _OTHER_CONFIG:
            return None
        if arg in _VALUE_FLAGS:
            skip = arg not in ("--info", "-i")  # --info's value is optional
            continue
        if not arg.startswith("-"):
            out.append(arg)
    return out


def _is_group(key: str) -> bool:
    return "/" in key or (CONFIG_DIR / key.replace(".", "/")).is_dir()


def _lookup(tree: Any, parts: Sequence[str]) -> tuple[Any, int]:
    """Walk ``parts`` into plain containers: (node reached, number of parts found)."""
    node = tree
    for i, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return node, i
    return node, len(parts)


def nearest_key(key: str, tree: dict[str, Any]) -> str | None:
    """The existing key most like ``key`` under its deepest existing parent, or None."""
    parts = key.split(".")
    node, found = _lookup(tree, parts)
    if found == len(parts) or not isinstance(node, dict):
        return None
    match = difflib.get_close_matches(parts[found], [str(k) for k in node], n=1, cutoff=0.6)
    return ".".join([*parts[:found], match[0]]) if match else None


def unknown_key_message(key: str, tree: dict[str, Any]) -> str:
    suggestion = nearest_key(key, tree)
    hint = f"did you mean '{suggestion}'?" if suggestion else f"add a new key with +{key}=..."
    return f"no config key '{key}' ({hint})"


def override_problems(config_name: str, argv: Sequence[str]) -> list[str]:
    """One message per ``key=value`` / ``~key`` of ``argv`` naming a key the config lacks."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType
    from omegaconf import OmegaConf

    args = _overrides(argv)
    if not args:
        return []
    try:
        parsed = OverridesParser.create().parse_overrides(args)
    except Exception:  # a syntax error: Hydra's own message says it best
        return []
    groups, keys, added = [], [], set()
    for arg, ov in zip(args, parsed, strict=True):
        key = ov.key_or_group
        if key.startswith("hydra"):
            continue
        if _is_group(key):
            # a sweep over options (model=a,b): the first option has the same keys here
            value = next(iter(ov.sweep_string_iterator())) if ov.is_sweep_override() else None
            groups.append(arg if value is None else f"{arg.split('=', 1)[0]}={value}")
        elif ov.type in (OverrideType.ADD, OverrideType.FORCE_ADD):
            added.add(key)
        else:
            keys.append(key)
    if not keys:
        return []
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=groups)
    except Exception:  # a bad group option: Hydra's own message lists the choices
        return []
    tree = OmegaConf.to_container(cfg, resolve=False)
    return [
        unknown_key_message(key, tree)
        for key in keys
        if key not in added and _lookup(tree, key.split("."))[1] < len(key.split("."))
    ]


def check_overrides(config_name: str, argv: Sequence[str], prog: str) -> None:
    """Exit 2 with one ``<prog>: error: ...`` line when the command line names a missing key."""
    problems = override_problems(config_name, argv)
    if problems:
        print(f"{prog}: error: {'; '.join(problems)}", file=sys.stderr, flush=True)
        sys.exit(2)


def trainer_key_problems(trainer_cfg: Any) -> list[str]:
    """``trainer.*`` keys that the ``trainer._target_`` class does not accept, each with the
    nearest accepted argument (``+trainer.max_epoch=1`` would otherwise fail in
    ``Trainer.__init__``, after the data was prepared)."""
    from hydra.utils import get_class

    params = inspect.signature(get_class(str(trainer_cfg["_target_"])).__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    accepted = {"trainer": {k: None for k in params if k != "self"}}
    problems = []
    for key in trainer_cfg:
        if str(key).startswith("_") or key in params:
            continue
        suggestion = nearest_key(f"trainer.{key}", accepted)
        hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
        problems.append(f"trainer.{key} is not an argument of the Lightning Trainer{hint}")
    return problems
