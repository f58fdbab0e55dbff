"""`python -m train.recipe` in a checkout; `pip install` names it `videogpt-recipe`."""
# The command lives in the library (keras_videogpt.cli.recipe); this file keeps the
# checkout's `python -m train.recipe` working.
from keras_videogpt.cli import recipe as _command

__doc__ = _command.__doc__  # absl shows the main module's docstring in --help

if __name__ == "__main__":
    _command.run()
