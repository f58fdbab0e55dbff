"""Run in a subprocess by test_distribute.py (logical devices must be set before TF starts).

    python tests/replica_check.py vqvae|prior|vqvae_restarts

Trains the model for a few steps on 2 logical CPU devices under
MirroredStrategy and on one device, from the same weights and the same global
batches, and prints JSON: the largest difference between the replicas' copies
of every variable, and the largest difference from the one-device run.
"""

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_videogpt import VQVAE, VideoGPT  # noqa: E402

STEPS, BATCH = int(__import__("os").environ.get("STEPS", 3)), 4
VQ = dict(sequence_length=4, resolution=16, n_hiddens=16, n_res_layers=1, embedding_dim=8,
          n_codes=4, downsample=(2, 2, 2), seed=0)


def data(kind):
    rng = np.random.default_rng(0)
    if kind.startswith("vqvae"):
        x = rng.uniform(-0.5, 0.5, (STEPS * BATCH, 4, 16, 16, 3)).astype("float32")
    else:
        x = rng.integers(0, 4, (STEPS * BATCH, 2, 8, 8)).astype("int32")
    return tf.data.Dataset.from_tensor_slices(x).batch(BATCH, drop_remainder=True)


def build(kind, replicas):
    if kind == "vqvae_restarts":
        # The data-dependent init and, with 64 codes for 128 vectors per replica, dead-code
        # restarts at every step: random draws that must be the same on both replicas.
        model = VQVAE(**dict(VQ, n_codes=64), synchronized_bn=replicas > 1)
        model(np.zeros((1, 4, 16, 16, 3), "float32"))
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    elif kind == "vqvae":
        model = VQVAE(**VQ, synchronized_bn=replicas > 1)
        model(np.zeros((1, 4, 16, 16, 3), "float32"))
        q = model.quantizer
        # A fixed, well-used codebook: no code dies in STEPS steps, so no random restart
        # (whose draw depends on how the batch is split) takes part in the comparison.
        codebook = np.random.default_rng(1).normal(size=(4, 8)).astype("float32")
        q.embeddings.assign(codebook)
        q.cluster_size.assign(np.full((4,), 100.0, "float32"))
        q.embedding_sum.assign(codebook * 100.0)
        q.initialized.assign(1.0)
        # SGD: Adam would turn float noise in near-zero gradients into full-size steps.
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    else:
        vq = VQVAE(**VQ)
        # No dropout: its random masks would differ between the two runs.
        model = VideoGPT.from_vqvae(vq, hidden_dim=24, num_heads=2, num_layers=1, dropout=0.0,
                                    attn_dropout=0.0)
        model(np.zeros((1, 2, 8, 8), "int32"))
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def weights(model):
    """Trainable and state variables (BatchNorm statistics, the EMA codebook); no metrics."""
    return model.trainable_variables + model.non_trainable_variables


def per_replica(variable):
    value = getattr(variable, "value", variable)
    values = getattr(value, "values", None) or (value,)
    return [np.asarray(v) for v in values]


def random_rows_per_replica(strategy, q):
    """The rows that the codebook init and restarts draw, on each replica, when the replicas
    hold different vectors: they must all be replica 0's, or the replicas would quantize
    against different codebooks in that step."""
    local = [np.random.default_rng(10 + r).normal(size=(128, 8)).astype("float32")
             for r in range(strategy.num_replicas_in_sync)]
    values = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(local[ctx.replica_id_in_sync_group]))
    drawn = [np.asarray(v) for v in strategy.experimental_local_results(
        strategy.run(tf.function(q._random_rows), args=(values,)))]
    from_first = all(np.any(np.all(local[0] == row, axis=1)) for row in drawn[0])
    return {"identical": all(np.array_equal(d, drawn[0]) for d in drawn),
            "from_replica_0": bool(from_first), "rows": len(drawn[0])}


def main(kind):
    keras.utils.set_random_seed(0)
    single = build(kind, 1)
    start = [v.numpy() for v in weights(single)]
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with mirrored.scope():
        multi = build(kind, 2)
    for v, value in zip(weights(multi), start):
        v.assign(value)
    h1 = single.fit(data(kind), epochs=1, verbose=0).history
    h2 = multi.fit(data(kind), epochs=1, verbose=0).history
    spread, gap, moved = 0.0, 0.0, 0.0
    for v1, v2, v0 in zip(weights(single), weights(multi), start):
        copies = per_replica(v2)
        spread = max(spread, max(float(np.abs(c - copies[0]).max(initial=0)) for c in copies))
        gap = max(gap, float(np.abs(copies[0] - v1.numpy()).max(initial=0)))
        moved = max(moved, float(np.abs(v1.numpy() - v0).max(initial=0)))
        if "--debug" in sys.argv:
            print(v1.path, float(np.abs(copies[0] - v1.numpy()).max(initial=0)), float(np.abs(v1.numpy() - v0).max(initial=0)))
    q = getattr(multi, "quantizer", None)
    codebook = {} if q is None else {
        "initialized": float(per_replica(q.initialized)[0]),
        "codebook_moved": float(np.abs(per_replica(q.embeddings)[0]
                                       - start[next(i for i, v in enumerate(weights(multi))
                                                    if v is q.embeddings)]).max())}
    if kind == "vqvae_restarts":
        codebook["random_rows"] = random_rows_per_replica(mirrored, multi.quantizer)
    print(json.dumps({**codebook, "replicas": mirrored.num_replicas_in_sync,
                      "replica_spread": spread,
                      "single_vs_mirrored": gap, "largest_update": moved,
                      "loss_single": h1["loss"][-1], "loss_mirrored": h2["loss"][-1],
                      "copies": len(per_replica(multi.variables[0]))}))


if __name__ == "__main__":
    main(sys.argv[1])
