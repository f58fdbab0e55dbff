"""`python -m train.evaluate` in a checkout; `pip install` names it `videogpt-evaluate`."""
# The command lives in the library (keras_videogpt.cli.evaluate); this file keeps the
# checkout's `python -m train.evaluate` working.
from keras_videogpt.cli import evaluate as _command

__doc__ = _command.__doc__  # absl shows the main module's docstring in --help

if __name__ == "__main__":
    _command.run()
