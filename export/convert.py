"""`python -m export.convert` in a checkout; `pip install` names it `videogpt-convert`."""
# The command lives in the library (keras_videogpt.cli.convert); this file keeps the
# checkout's `python -m export.convert` working.
from keras_videogpt.cli import convert as _command

__doc__ = _command.__doc__  # absl shows the main module's docstring in --help

if __name__ == "__main__":
    _command.run()
