"""`python -m train.sample` in a checkout; `pip install` names it `videogpt-sample`."""
# The command lives in the library (keras_videogpt.cli.sample); this file keeps the
# checkout's `python -m train.sample` working.
from keras_videogpt.cli import sample as _command

__doc__ = _command.__doc__  # absl shows the main module's docstring in --help

if __name__ == "__main__":
    _command.run()
