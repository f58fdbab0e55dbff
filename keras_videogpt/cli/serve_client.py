"""Draw videos from a TF Serving model exported by `export.sampler`, by REST or gRPC:

    python -m export.client --url=http://localhost:8501 --model=videogpt \
        --batch_size=4 --seed=0 --out=runs/served --format=gif
    python -m export.client --grpc=localhost:8500 --model=videogpt --out=runs/served

Writes the videos and `codes.npy` to --out and prints their paths and shapes
as JSON. See `keras_videogpt.serving.client` for the protocol.

Installed as `videogpt-serve-client`.
"""

import json
import os

import numpy as np
from absl import app, flags

from keras_videogpt.cli.common import define_sampling_flags
from keras_videogpt.serving.client import GrpcClient, RestClient, ServingError, save_videos


def main(argv):
    """Draws videos from the server; a failure is one line naming it, never a traceback."""
    try:
        return _main(argv)
    except (ServingError, ValueError, TypeError, OSError, ImportError) as e:
        raise app.UsageError(f"{type(e).__name__}: {e}") from None


def _main(argv):
    del argv
    f = flags.FLAGS
    if f.grpc:
        client = GrpcClient(f.grpc, f.model, f.version)
    else:
        client = RestClient(f.url, f.model, f.version)
    cond = {}
    if f.cond_frames:
        cond["cond_frames"] = np.load(f.cond_frames)
    if f.label is not None:
        cond["label"] = np.full((f.batch_size,), f.label)
    out = client.sample(batch_size=f.batch_size, seed=f.seed, temperature=f.temperature,
                        top_k=f.top_k, top_p=f.top_p, **cond)
    paths = save_videos(out["video"], f.out, f.format)
    np.save(os.path.join(f.out, "codes.npy"), out["codes"])
    print(json.dumps({"videos": paths, "video_shape": list(out["video"].shape),
                      "codes_shape": list(out["codes"].shape)}))


def define_flags():
    """This command's flags, defined only when it runs so that the modules import cleanly."""
    flags.DEFINE_string("url", "http://localhost:8501", "TF Serving REST address.")
    flags.DEFINE_string("grpc", None, "TF Serving gRPC address (host:port); overrides --url.")
    flags.DEFINE_string("model", "videogpt", "Model name (--model_name of the server).")
    flags.DEFINE_integer("version", None, "Model version (default: the newest).")
    flags.DEFINE_integer("batch_size", 1, "Videos to draw.")
    flags.DEFINE_integer("seed", 0, "Seed.")
    define_sampling_flags(flags)
    flags.DEFINE_string("cond_frames", None, ".npy of uint8 [B, n, H, W, 3] first frames.")
    flags.DEFINE_integer("label", None, "Class for class-conditional models.")
    flags.DEFINE_string("out", "runs/served", "Folder for the videos.")
    flags.DEFINE_enum("format", "gif", ["gif", "mp4"], "Video format.")


def run():
    """The console script: defines the flags, parses them, runs `main` (errors as one line)."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
