"""`python -m train.encode_codes` in a checkout; `pip install` names it `videogpt-encode-codes`."""
# The command lives in the library (keras_videogpt.cli.encode_codes); this file keeps the
# checkout's `python -m train.encode_codes` working.
from keras_videogpt.cli import encode_codes as _command

__doc__ = _command.__doc__  # absl shows the main module's docstring in --help

if __name__ == "__main__":
    _command.run()
