"""Quiet, honest output: the libraries' chatter off around the calls that make it, rewardkit's own words instead.

    from rewardkit import quiet
    with quiet.libraries():                  # scoped: everything is restored when the block ends
        model = AutoModel...from_pretrained(...)
    quiet.note("fresh score head, seed 0")   # "[rewardkit] fresh score head, seed 0" on stderr

Inside `libraries()`: transformers', datasets' and huggingface_hub's loggers at ERROR, their progress
bars off, Python warnings ignored, and stderr held back (the GGUF converter's bar is a plain tqdm no
switch reaches). If the block raises, what was held back is written out before the error propagates,
so a failure still shows everything the libraries said. Nothing changes at import time.

`RK_DEBUG=1` turns all of this off: every library message, report and bar shows as the libraries print it.
Notes go to the "rewardkit.notes" logger (INFO); with no logging configured they are printed to stderr.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

log = logging.getLogger("rewardkit.notes")  # its own logger: other rewardkit loggers (serving) are untouched


def debug() -> bool:
    """RK_DEBUG set (and not "0"): show the libraries' own output, and tracebacks."""
    return os.environ.get("RK_DEBUG", "") not in ("", "0")


class _Stderr(logging.Handler):
    """Writes to whatever sys.stderr is at the time (so test capture and redirection see it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr, flush=True)


def note(message: str) -> None:
    """Say what rewardkit did, in its own words (not library output: shown with or without RK_DEBUG)."""
    if not log.handlers and not logging.getLogger().handlers:  # nobody configured logging: print it
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("[rewardkit] %(message)s"))
        log.addHandler(handler)
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    log.info(message)


@contextmanager
def libraries() -> Iterator[None]:
    """Silence library logging, progress bars, warnings and stray stderr for the block (not under RK_DEBUG)."""
    if debug():
        yield
        return
    with ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        stack.enter_context(_transformers_quiet())
        if "datasets" in sys.modules:  # never import it just to silence it (~1 s)
            stack.enter_context(_datasets_quiet())
        stack.enter_context(_held_stderr())
        yield


@contextmanager
def _transformers_quiet() -> Iterator[None]:
    from huggingface_hub import utils as hub
    from transformers.utils import logging as tlog

    verbosity, bars, hub_bars_off = tlog.get_verbosity(), tlog.is_progress_bar_enabled(), hub.are_progress_bars_disabled()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()  # also turns off huggingface_hub's bars
    try:
        yield
    finally:
        tlog.set_verbosity(verbosity)
        if bars:
            tlog.enable_progress_bar()
        if not hub_bars_off:
            hub.enable_progress_bars()


@contextmanager
def _datasets_quiet() -> Iterator[None]:
    from datasets import utils as dutils

    verbosity, bars_off = dutils.logging.get_verbosity(), dutils.are_progress_bars_disabled()
    dutils.logging.set_verbosity_error()
    dutils.disable_progress_bars()
    try:
        yield
    finally:
        dutils.logging.set_verbosity(verbosity)
        if not bars_off:
            dutils.enable_progress_bars()


@contextmanager
def _held_stderr() -> Iterator[io.StringIO]:
    real, held = sys.stderr, io.StringIO()
    sys.stderr = held
    try:
        yield held
    except BaseException:
        sys.stderr = real
        real.write(held.getvalue())  # a failing load shows everything the libraries said
        raise
    finally:
        sys.stderr = real
