"""Pure helpers every layer may import: schedules, seed ranges, units. This package imports nothing
from the rest of liftrl, so agents, the simulator and the train loop can all share it."""
