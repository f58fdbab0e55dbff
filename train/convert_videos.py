"""`python -m train.convert_videos` in a checkout; `pip install` names it `videogpt-convert-videos`."""
# The command lives in the library (keras_videogpt.cli.convert_videos); this file keeps the
# checkout's `python -m train.convert_videos` working.
from keras_videogpt.cli import convert_videos as _command

__doc__ = _command.__doc__  # absl shows the main module's docstring in --help

if __name__ == "__main__":
    _command.run()
