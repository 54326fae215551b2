"""``liftrl sweep``: seeds x grid x search samples as Ray Tune trials, each an ordinary run folder.

Ray is an optional extra (``pip install 'liftrl[sweep]'``); only ``runner`` and ``trial`` import
it, so reading a sweep folder (``spec``) and the CLI's help work without it.
"""
