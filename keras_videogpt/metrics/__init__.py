"""Quality metrics: FVD with I3D, the Fréchet distance, NMSE, bits/dim and code usage.

Each streamed metric is an accumulator with `update(...)` and `result()`
(`FeatureStats`, `NMSEStats`, `BitsPerDimStats`, `CodeUsageStats`), so an
evaluation over thousands of clips holds no more than one batch;
`keras_videogpt.evaluation.evaluate` composes them.
"""

from keras_videogpt.metrics.code_usage import CodeUsageStats
from keras_videogpt.metrics.frechet import FeatureStats, frechet_distance
from keras_videogpt.metrics.fvd import fvd, preprocess
from keras_videogpt.metrics.i3d import load_i3d
from keras_videogpt.metrics.likelihood import BitsPerDimStats
from keras_videogpt.metrics.reconstruction import NMSEStats, nmse

__all__ = ["BitsPerDimStats", "CodeUsageStats", "FeatureStats", "NMSEStats", "frechet_distance",
           "fvd", "load_i3d", "nmse", "preprocess"]
