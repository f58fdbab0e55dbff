"""The command lines, one module each, with flags, `main` and `run` (the console script).

From a checkout, `python -m train.<name>` and `python -m export.<name>` run
them; after `pip install`, the `videogpt-*` console scripts do (see
`setup.cfg`).
"""
