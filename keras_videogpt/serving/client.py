"""Calling a TF Serving model exported by `keras_videogpt.serving.export_sampler`, by REST or gRPC.

    client = RestClient("http://localhost:8501", "videogpt")
    out = client.sample(batch_size=4, seed=0)      # {"video": uint8, "codes": int32}
    save_videos(out["video"], "runs/served")

The command line is `python -m export.client` (`videogpt-serve-client`).

REST posts the columnar `{"signature_name": ..., "inputs": {...}}` body to
`/v1/models/NAME[/versions/N]:predict` and reads `{"outputs": {...}}`. gRPC
uses `tensorflow-serving-api` (`pip install keras-videogpt[serving]`). The
code here uses numpy only (plus PIL or PyAV to write GIF or MP4); a client
machine still installs the package, whose `__init__` loads TensorFlow.
"""

import json
import os
import urllib.error
import urllib.request

import numpy as np

# The dtypes of the `sample`, `encode` and `decode` signatures' inputs.
INPUT_DTYPES = {"batch_size": "int32", "seed": "int64", "temperature": "float32",
                "top_k": "int32", "top_p": "float32", "cond_frames": "uint8", "label": "int32",
                "video": "uint8", "codes": "int32"}
OUTPUT_DTYPES = {"video": "uint8", "codes": "int32"}


class ServingError(RuntimeError):
    """TF Serving answered with an error (its message is kept), or could not be reached."""


def sample_inputs(batch_size=1, seed=0, temperature=1.0, top_k=0, top_p=1.0, cond_frames=None,
                  label=None):
    """The `sample` signature's inputs as numpy arrays of its dtypes (conditions if given)."""
    inputs = {"batch_size": batch_size, "seed": seed, "temperature": temperature,
              "top_k": top_k, "top_p": top_p}
    if cond_frames is not None:
        inputs["cond_frames"] = cond_frames
    if label is not None:
        inputs["label"] = label
    return typed(inputs)


def typed(inputs):
    """Casts each input to its signature dtype; refuses unknown names and lossy values."""
    out = {}
    for name, value in inputs.items():
        if name not in INPUT_DTYPES:
            raise ValueError(f"Unknown input '{name}'; the signatures take "
                             f"{sorted(INPUT_DTYPES)}.")
        value = np.asarray(value)
        dtype = np.dtype(INPUT_DTYPES[name])
        if dtype == np.uint8 and value.dtype != np.uint8:
            raise TypeError(f"{name} must be uint8 frames in [0, 255]; got {value.dtype}.")
        out[name] = value.astype(dtype)
    return out


def predict_request(signature, inputs):
    """The REST body: columnar inputs, as lists."""
    return {"signature_name": signature,
            "inputs": {k: np.asarray(v).tolist() for k, v in typed(inputs).items()}}


_RANGES = {"uint8": (0, 255), "int32": (-2 ** 31, 2 ** 31 - 1)}


def _output_array(name, value):
    """One output as a numpy array of its signature dtype, or a ServingError saying why not."""
    dtype = OUTPUT_DTYPES.get(name)
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as e:  # ragged nesting
        raise ServingError(f"The response's '{name}' is not a regular array: {e}") from None
    if array.dtype.kind not in "iuf" + ("b" if dtype is None else ""):
        raise ServingError(f"The response's '{name}' holds {array.dtype} values, not numbers.")
    if dtype in _RANGES and array.size:
        low, high = _RANGES[dtype]
        if not np.isfinite(array).all() or array.min() < low or array.max() > high:
            raise ServingError(f"The response's '{name}' has values outside {dtype} range "
                               f"[{low}, {high}] (from {array.min()} to {array.max()}).")
        if array.dtype.kind == "f" and not np.all(array == np.round(array)):
            raise ServingError(f"The response's '{name}' holds fractions, not {dtype} values.")
    return array.astype(dtype) if dtype else array


def parse_response(body):
    """`{"outputs": ...}` of a REST response -> dict of numpy arrays of the signature dtypes."""
    if not isinstance(body, dict):
        raise ServingError(f"The response is not a JSON object: {str(body)[:200]}")
    if "error" in body:
        raise ServingError(f"TF Serving refused the request: {body['error']}")
    outputs = body.get("outputs")
    if outputs is None:
        raise ServingError(f"The response has no 'outputs': {str(body)[:200]}")
    if not isinstance(outputs, dict):  # a single-output signature returns the bare list
        outputs = {"output": outputs}
    return {k: _output_array(k, v) for k, v in outputs.items()}


def _json(raw, where):
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ServingError(f"{where} answered with something other than JSON: "
                           f"{raw[:200]!r}") from None


class RestClient:
    """TF Serving's REST API (port 8501 by default).

    Example:
    >>> client = RestClient("http://localhost:8501", "videogpt")      # doctest: +SKIP
    >>> client.sample(batch_size=2, seed=7)["video"].shape            # doctest: +SKIP
    (2, 16, 64, 64, 3)
    """

    def __init__(self, url, model, version=None, timeout=600):
        self.url, self.model, self.version, self.timeout = url.rstrip("/"), model, version, timeout

    @property
    def endpoint(self):
        version = f"/versions/{int(self.version)}" if self.version else ""
        return f"{self.url}/v1/models/{self.model}{version}:predict"

    def predict(self, signature, inputs):
        data = json.dumps(predict_request(signature, inputs)).encode()
        request = urllib.request.Request(self.endpoint, data=data,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            try:
                body = json.loads(e.read())
            except (ValueError, UnicodeDecodeError):
                body = {"error": f"HTTP {e.code} {e.reason}"}
            if not isinstance(body, dict) or "error" not in body:
                body = {"error": f"HTTP {e.code}: {str(body)[:200]}"}
            return parse_response(body)
        except urllib.error.URLError as e:
            raise ServingError(f"Could not reach {self.endpoint}: {e.reason}") from e
        except TimeoutError as e:
            raise ServingError(f"{self.endpoint} did not answer within {self.timeout} s; "
                               "raise `timeout` for large batches.") from e
        return parse_response(_json(raw, self.endpoint))

    def sample(self, **kwargs):
        """`video` uint8 `[B, T, H, W, 3]` and `codes`; arguments as `sample_inputs`."""
        return self.predict("sample", sample_inputs(**kwargs))

    def encode(self, video):
        return self.predict("encode", {"video": video})["codes"]

    def decode(self, codes):
        return self.predict("decode", {"codes": codes})["video"]


class GrpcClient(RestClient):
    """TF Serving's gRPC API (port 8500 by default), through `tensorflow-serving-api`."""
    def __init__(self, target, model, version=None, timeout=600):
        try:
            import grpc
            from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
        except ImportError as e:
            raise ImportError("gRPC needs tensorflow-serving-api: "
                              "pip install 'keras-videogpt[serving]'.") from e
        self._predict_pb2 = predict_pb2
        self._grpc = grpc
        channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", 512 << 20),
            ("grpc.max_send_message_length", 512 << 20)])
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        self.target, self.model, self.version, self.timeout = target, model, version, timeout

    def predict(self, signature, inputs):
        import tensorflow as tf

        request = self._predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        request.model_spec.signature_name = signature
        if self.version:
            request.model_spec.version.value = int(self.version)
        for name, value in typed(inputs).items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        try:
            response = self._stub.Predict(request, timeout=self.timeout)
        except self._grpc.RpcError as e:
            raise ServingError(f"TF Serving refused the request ({e.code().name}): "
                               f"{e.details()}") from e
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


def save_videos(videos, out, fmt="gif", fps=8, prefix="video"):
    """Writes each uint8 `[T, H, W, 3]` clip of `videos` to `out/prefix_i.{gif,mp4}`; returns paths."""
    videos = np.asarray(videos)
    if videos.dtype != np.uint8 or videos.ndim != 5:
        raise ValueError(f"videos must be uint8 [B, T, H, W, 3]; got {videos.dtype} "
                         f"{videos.shape}.")
    os.makedirs(out, exist_ok=True)
    paths = []
    for i, clip in enumerate(videos):
        path = os.path.join(out, f"{prefix}_{i}.{fmt}")
        if fmt == "gif":
            from PIL import Image

            frames = [Image.fromarray(f) for f in clip]
            frames[0].save(path, save_all=True, append_images=frames[1:],
                           duration=int(1000 / fps), loop=0)
        elif fmt == "mp4":
            _write_mp4(path, clip, fps)
        else:
            raise ValueError(f"Unknown format '{fmt}': gif or mp4.")
        paths.append(path)
    return paths


def _write_mp4(path, clip, fps):
    import av

    # H.264 in yuv420p needs even sizes: pad by one pixel where needed.
    t, h, w, _ = clip.shape
    clip = np.pad(clip, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = clip.shape[2], clip.shape[1], "yuv420p"
        for frame in clip:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
