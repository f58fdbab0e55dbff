"""`python -m export.i3d` in a checkout; `pip install` names it `videogpt-export-i3d`."""
# The command lives in the library (keras_videogpt.cli.export_i3d); this file keeps the
# checkout's `python -m export.i3d` working.
from keras_videogpt.cli import export_i3d as _command

__doc__ = _command.__doc__  # absl shows the main module's docstring in --help

if __name__ == "__main__":
    _command.run()
