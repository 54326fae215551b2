"""A run on disk: what ``train/`` writes and ``report/``, ``deploy/`` (and later distillation and
sweeps) read.

- ``folder``: the run folder (naming, ``config.yaml``, atomic ``latest``/``best`` links);
- ``snapshot``: the snapshot file format and its I/O (tensors + JSON, never unpickles code), and
  the run-snapshot metadata every reader checks;
- ``checkpoints``: which snapshot ``best``, ``latest``, ``all`` or ``100k`` names;
- ``envs``: the one config -> env factory (training, evaluation, dry run, demo, benchmarks);
- ``policy``: the one loader of a trained policy from a snapshot.

Nothing is imported here, so reading a run folder's names stays free of torch and MuJoCo.
"""
