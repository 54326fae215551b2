"""Distillation: a pixel student learns a privileged teacher's actions by DAgger (``liftrl distill``).

- ``teacher``: a trained run's actor, loaded from its snapshot, acting deterministically;
- ``dagger``: the pure parts (the beta schedule by round, the per-step choice of who drives);
- ``loop``: rounds of collect (mixture rollouts, every step labelled by the teacher) -> aggregate
  (the replay buffer, frames stored once) -> regress, over the train loop's own pieces, so the
  run folder, snapshots, metrics, evaluation, best-by-Wilson-bound and exact resume are the
  train loop's.
"""
