"""How the tool entry points (eval, predict, score, export) report a user's mistake: one line
on stderr, ``<tool>: error: ...``, and exit status 2; never a traceback from inside a library."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from omegaconf.errors import OmegaConfBaseException

# DataError, CheckpointError and ConfigError are ValueErrors; a missing key a KeyError.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    KeyError,
    OSError,
    OmegaConfBaseException,
)


def first_line(err: BaseException) -> str:
    """The error's message as one line (a KeyError's own text, not its repr)."""
    message = err.args[0] if isinstance(err, KeyError) and err.args else err
    lines = str(message).strip().splitlines()
    return lines[0] if lines else type(err).__name__


@contextmanager
def user_errors(prog: str) -> Iterator[None]:
    """Run the body; a user error becomes ``<prog>: error: <first line>`` and exit status 2."""
    try:
        yield
    except USER_ERRORS as err:
        print(f"{prog}: error: {first_line(err)}", file=sys.stderr)
        sys.exit(2)
