"""Training runs as functions: what the command lines call, usable from Python too.

Example:
>>> from keras_videogpt import training
>>> vqvae, metrics = training.train_vqvae("tiny", "moving_mnist", "runs/vq", batch_size=8,
...                                       epochs=4, steps_per_epoch=25, learning_rate=1e-3)  # doctest: +SKIP
>>> training.run_recipe("moving_mnist", "runs/moving_mnist")  # doctest: +SKIP
"""

from keras_videogpt.training.prior import build_prior, train_prior
from keras_videogpt.training.recipe import STAGES, export_weights, run_recipe
from keras_videogpt.training.runs import setup
from keras_videogpt.training.vqvae import train_vqvae

__all__ = ["STAGES", "build_prior", "export_weights", "run_recipe", "setup", "train_prior",
           "train_vqvae"]
