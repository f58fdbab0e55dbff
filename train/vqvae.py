"""`python -m train.vqvae` in a checkout; `pip install` names it `videogpt-train-vqvae`."""
# The command lives in the library (keras_videogpt.cli.train_vqvae); this file keeps the
# checkout's `python -m train.vqvae` working.
from keras_videogpt.cli import train_vqvae as _command

__doc__ = _command.__doc__  # absl shows the main module's docstring in --help

if __name__ == "__main__":
    _command.run()
