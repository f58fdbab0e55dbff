"""`python -m train.prior` in a checkout; `pip install` names it `videogpt-train-prior`."""
# The command lives in the library (keras_videogpt.cli.train_prior); this file keeps the
# checkout's `python -m train.prior` working.
from keras_videogpt.cli import train_prior as _command

__doc__ = _command.__doc__  # absl shows the main module's docstring in --help

if __name__ == "__main__":
    _command.run()
