"""A stand-in for TF Serving in tests: the REST predict API and the gRPC Predict service
in front of a real exported SavedModel, loaded with TF. It tests our protocol handling
(request building, response parsing, errors), not TF Serving itself.
"""

import json
import re
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf

PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(/versions/(?P<version>\d+))?:predict$")


def _call(model, signature, inputs):
    fn = model.signatures[signature]
    specs = fn.structured_input_signature[1]
    missing = sorted(set(specs) - set(inputs))
    if missing:
        raise tf.errors.InvalidArgumentError(None, None, f"Missing inputs: {missing}")
    tensors = {k: tf.constant(np.asarray(inputs[k]), specs[k].dtype) for k in specs}
    return {k: v.numpy() for k, v in fn(**tensors).items()}


def start_rest(model, name):
    """Serves `model` (a loaded SavedModel) as `name` on 127.0.0.1; returns (server, url)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            match = PATH.match(self.path)
            if not match or match["name"] != name:
                return self.reply(404, {"error": f"Servable not found for request: {self.path}"})
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                out = _call(model, body.get("signature_name", "serving_default"), body["inputs"])
            except (tf.errors.InvalidArgumentError, KeyError, ValueError) as e:
                return self.reply(400, {"error": getattr(e, "message", str(e))})
            self.reply(200, {"outputs": {k: v.tolist() for k, v in out.items()}})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def start_grpc(model, name):
    """The gRPC PredictionService for `model` on 127.0.0.1; returns (server, target)."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class Service(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            if request.model_spec.name != name:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found: "
                              f"{request.model_spec.name}")
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            try:
                out = _call(model, request.model_spec.signature_name or "serving_default",
                            inputs)
            except tf.errors.InvalidArgumentError as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, e.message)
            response = predict_pb2.PredictResponse()
            for k, v in out.items():
                response.outputs[k].CopyFrom(tf.make_tensor_proto(v))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"
