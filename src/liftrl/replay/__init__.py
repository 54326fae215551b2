"""Replay: where environment steps wait to become training batches (frames stored once, n-step sampling)."""

from liftrl.replay.buffer import ReplayBuffer

__all__ = ["ReplayBuffer"]
