"""`python -m export.sampler` in a checkout; `pip install` names it `videogpt-export-sampler`."""
# The command lives in the library (keras_videogpt.cli.export_sampler); this file keeps the
# checkout's `python -m export.sampler` working.
from keras_videogpt.cli import export_sampler as _command

__doc__ = _command.__doc__  # absl shows the main module's docstring in --help

if __name__ == "__main__":
    _command.run()
