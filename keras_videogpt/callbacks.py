"""Training callbacks that the command lines add to `fit`."""

import math

import keras


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or Inf; raised by `StopOnNonFiniteLoss`."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops `fit` at the first NaN or Inf loss, before any checkpoint of those weights.

    Unlike `keras.callbacks.TerminateOnNaN`, which lets the epoch end (so
    `ModelCheckpoint` and `BackupAndRestore` would save the broken weights),
    this raises at once: the last checkpoint and backup stay the last good ones.

    Args:
        checkpoint_dir: named in the error, as where the last good state is.

    Example:
    >>> model.fit(ds, callbacks=[StopOnNonFiniteLoss("runs/x")])   # doctest: +SKIP
    """

    def __init__(self, checkpoint_dir=None):
        super().__init__()
        self.checkpoint_dir = checkpoint_dir
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        where = f" The last good checkpoint and backup are in '{self.checkpoint_dir}'." if (
            self.checkpoint_dir) else ""
        raise NonFiniteLossError(
            f"The loss became {float(loss)} at epoch {self._epoch + 1}, batch {batch + 1}; "
            f"training stopped without saving these weights.{where} To go on: lower the "
            "learning rate, use mixed_bfloat16 rather than mixed_float16 (or float32), and "
            "check the data for NaN; then run the same command again to resume from the last "
            "backup.")
