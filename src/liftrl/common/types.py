"""Types every layer names the same way."""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

# A policy as everything that runs one sees it: a batch of observation dicts (key -> array with a
# leading batch axis) -> a batch of actions. Trained agents, bundles and the eval loops all fit it.
Policy = Callable[[Mapping[str, np.ndarray]], np.ndarray]
