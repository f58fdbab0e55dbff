"""Serving: the sampler as a SavedModel for TF Serving, and a client for it.

`export_sampler` writes the SavedModel; `RestClient` and `GrpcClient` call a
server that serves it. The client module itself uses numpy only (PIL or PyAV
to write GIF or MP4). `load_and_sample.py` is a script that draws from an
exported model with TensorFlow alone, as a serving process does.
"""

from keras_videogpt.serving.client import (GrpcClient, RestClient, ServingError, sample_inputs,
                                           save_videos)
from keras_videogpt.serving.export import METADATA, build_archive, export_sampler, metadata

__all__ = ["METADATA", "GrpcClient", "RestClient", "ServingError", "build_archive",
           "export_sampler", "metadata", "sample_inputs", "save_videos"]
