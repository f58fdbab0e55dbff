"""`python -m train.demo` in a checkout; `pip install` names it `videogpt-demo`."""
# The command lives in the library (keras_videogpt.cli.demo); this file keeps the
# checkout's `python -m train.demo` working.
from keras_videogpt.cli import demo as _command

__doc__ = _command.__doc__  # absl shows the main module's docstring in --help

if __name__ == "__main__":
    _command.run()
