"""`python export/load_and_sample.py DIR ...` from a checkout: runs the TensorFlow-only script
`keras_videogpt/serving/load_and_sample.py` without importing keras_videogpt."""
import os
import runpy

if __name__ == "__main__":
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runpy.run_path(os.path.join(here, "keras_videogpt", "serving", "load_and_sample.py"),
                   run_name="__main__")
