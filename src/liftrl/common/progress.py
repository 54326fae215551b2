"""A progress bar over episodes that shows the running success, for the dry run, eval and demos.

Why: a 50-episode dry run is minutes of compute; a bar that says how many episodes are done and
how many of them succeeded so far tells the user early whether the rest is worth waiting for.
Counts are kept per group (a dry run's rows) so the bar reads e.g. ``env 12/14 | deploy 9/10``.
``verbose`` adds one line per episode above the bar.
"""

from __future__ import annotations

import sys
from typing import TextIO


class SuccessBar:
    """``tqdm`` bar of ``total`` episodes on stderr; ``add(group, success, line)`` per finished episode."""

    def __init__(self, total: int, desc: str = "episodes", verbose: bool = False, file: TextIO | None = None,
                 disable: bool | None = None):
        from tqdm import tqdm

        self.verbose = verbose
        self.counts: dict[str, list[int]] = {}  # group -> [successes, done]
        # disable=None: no bar when stderr is not a terminal (logs, tests); the per-episode lines remain
        self._bar = tqdm(total=total, desc=desc, unit="ep", dynamic_ncols=True, file=file or sys.stderr,
                         disable=disable, leave=True)

    def add(self, success: bool, group: str = "success", line: str | None = None) -> None:
        counts = self.counts.setdefault(group, [0, 0])
        counts[0] += bool(success)
        counts[1] += 1
        if self.verbose and line:
            self._bar.write(line, file=sys.stdout)
        self._bar.set_postfix_str(self.postfix(), refresh=False)
        self._bar.update(1)

    def postfix(self) -> str:
        """``group successes/done`` for each group, e.g. ``success 7/9`` or ``env 7/9 | deploy 3/3``."""
        return " | ".join(f"{g} {s}/{n}" for g, (s, n) in self.counts.items())

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> "SuccessBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
