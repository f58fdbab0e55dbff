"""What the command lines share: the scaling and sampling flags, and errors shown as one line."""

from absl import app

from keras_videogpt.distribute import STRATEGIES


def define_scale_flags(flags):
    """The flags both training commands share for strategies, precision and compilation."""
    flags.DEFINE_enum("strategy", "auto", list(STRATEGIES), "tf.distribute strategy; 'auto' "
                      "picks TPU (--tpu), multi-worker (TF_CONFIG), mirrored (2+ GPUs), default.")
    flags.DEFINE_string("tpu", None, "TPU name or grpc:// address ('local' on a TPU VM).")
    flags.DEFINE_enum("mixed_precision", None, ["float32", "mixed_bfloat16", "mixed_float16"],
                      "Keras dtype policy (bf16 for TPU, fp16 with loss scaling for GPU).")
    flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA (TPU: always).")
    flags.DEFINE_integer("steps_per_execution", 1, "Train steps per tf.function call.")
    flags.DEFINE_integer("validation_steps", 2, "Held-out batches evaluated after each epoch "
                         "(val_loss etc.; best.*.keras keeps the best); 0: none.")
    flags.DEFINE_integer("video_summary_every", 1, "Epochs between videos in TensorBoard "
                         "(reconstructions or samples); 0: none.")
    flags.DEFINE_bool("skip_corrupt", False, "Read TFRecord shards up to a corrupt or "
                      "truncated record and go on, instead of stopping.")
    flags.DEFINE_bool("restart", False, "Train from scratch even if --workdir holds a trained "
                      "model or a backup (both are replaced).")


def define_sampling_flags(flags):
    """The flags of every command that draws from a prior: temperature, top-k, top-p."""
    flags.DEFINE_float("temperature", 1.0, "Softmax temperature (> 0).")
    flags.DEFINE_integer("top_k", 0, "Keep the k most likely codes (0: off).")
    flags.DEFINE_float("top_p", 1.0, "Nucleus sampling: keep the most likely codes up to this "
                       "probability mass, in (0, 1] (1: off).")


def run_command(main, define_flags):
    """Defines a command's flags and runs `main` under absl, printing a bad argument's
    message (a ValueError, a missing file, a damaged backup...) instead of a traceback."""
    define_flags()

    def guarded(argv):
        try:
            return main(argv)
        except (ValueError, TypeError, KeyError, FileNotFoundError, FileExistsError,
                RuntimeError) as e:  # includes NonFiniteLossError, BackupError, a missing TPU
            raise app.UsageError(f"{type(e).__name__}: {e}") from None

    app.run(guarded)
