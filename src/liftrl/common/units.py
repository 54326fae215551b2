"""The simulator's clock, named once: 2 ms physics steps, 10 per control step, so 50 Hz control.

The scene sets ``PHYSICS_TIMESTEP_S`` on the model and the env steps ``PHYSICS_STEPS_PER_CONTROL``
physics steps per action; a bundle trained at the plain rate records ``CONTROL_HZ``, and the deploy
loop turns an episode's step budget into seconds with ``CONTROL_PERIOD_S``.
"""

from __future__ import annotations

PHYSICS_TIMESTEP_S = 0.002
PHYSICS_STEPS_PER_CONTROL = 10
CONTROL_PERIOD_S = PHYSICS_TIMESTEP_S * PHYSICS_STEPS_PER_CONTROL  # 0.02 s
CONTROL_HZ = 1.0 / CONTROL_PERIOD_S  # 50 Hz
