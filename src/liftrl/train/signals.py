"""Ctrl-C and SIGTERM as requests to stop cleanly, not as crashes.

A multi-hour run meets both: a person pressing Ctrl-C, a cluster pre-empting the job with SIGTERM.
Python's default turns the first into a ``KeyboardInterrupt`` traceback at a random line and the
second into a silent death, and either loses everything since the last periodic snapshot. Here the
first signal only sets a flag: the train loop finishes the step it is in, saves a snapshot (with
the replay buffer, where the run saves it) and returns, so the run resumes exactly. A second signal
means "now": the process exits at once (status 130) and the last snapshot on disk is what remains.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_NOW_STATUS = 130


class StopRequest:
    """The flag the handlers set and the train loop reads after every step."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.requested:
            _say(f"liftrl: {name} again: exiting now without saving (the last snapshot on disk stays)\n")
            os._exit(EXIT_NOW_STATUS)
        self.signal_name = name
        _say(f"liftrl: {name} received: finishing this step and saving a snapshot "
             f"(press Ctrl-C again to exit at once)\n")

    @contextmanager
    def installed(self) -> Iterator["StopRequest"]:
        """Handle SIGINT/SIGTERM while the block runs (main thread only), then restore the old handlers."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        try:
            yield self
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)


def _say(text: str) -> None:
    """Write from a signal handler: os.write, since print() may be mid-write to the same stream."""
    try:
        os.write(2, text.encode())
    except OSError:
        pass
