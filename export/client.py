"""`python -m export.client` in a checkout; `pip install` names it `videogpt-serve-client`."""
# The command lives in the library (keras_videogpt.cli.serve_client); this file keeps the
# checkout's `python -m export.client` working.
from keras_videogpt.cli import serve_client as _command

__doc__ = _command.__doc__  # absl shows the main module's docstring in --help

if __name__ == "__main__":
    _command.run()
