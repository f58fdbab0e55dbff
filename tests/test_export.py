"""The exported sampler: stock ops only, same codes in a fresh process, saved_model_cli,
in-graph input checks, and the REST/gRPC client against a local stand-in server."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, TINY_VQVAE
from keras_videogpt.serving import client as client_lib
from keras_videogpt.serving import METADATA, export_sampler
from keras_videogpt import VQVAE, VideoGPT, sampling
from test_prior import randomize_output

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
CONTROLS = dict(temperature=0.9, top_k=8, top_p=0.95)


def make_pair(**prior_kwargs):
    vqvae = VQVAE(**TINY_VQVAE)
    vqvae(np.zeros((1,) + vqvae.video_shape, "float32"))
    prior = VideoGPT.from_vqvae(vqvae, hidden_dim=24, num_heads=2, num_layers=1, **prior_kwargs)
    randomize_output(prior)
    return vqvae, prior


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    vqvae, prior = make_pair()
    base = tmp_path_factory.mktemp("plain")
    return vqvae, prior, export_sampler(vqvae, prior, base / "videogpt", version=3)


@pytest.fixture(scope="module")
def conditioned(tmp_path_factory):
    vqvae, prior = make_pair(n_cond_frames=1, class_cond_dim=3)
    path = export_sampler(vqvae, prior, tmp_path_factory.mktemp("cond") / "m")
    return vqvae, prior, path, tf.saved_model.load(path)


def frames(batch, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (batch, 1, 16, 16, 3), dtype="uint8")


def call_sample(loaded, batch_size, seed, **inputs):
    args = dict(batch_size=tf.constant(batch_size), seed=tf.constant(seed, tf.int64),
                temperature=tf.constant(CONTROLS["temperature"]),
                top_k=tf.constant(CONTROLS["top_k"]), top_p=tf.constant(CONTROLS["top_p"]))
    args.update({k: tf.constant(v) for k, v in inputs.items()})
    return loaded.signatures["sample"](**args)


def test_layout_signatures_and_metadata(plain):
    vqvae, prior, path = plain
    assert path.endswith(os.path.join("videogpt", "3"))
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
    loaded = tf.saved_model.load(path)
    assert {"sample", "encode", "decode", "serving_default"} <= set(loaded.signatures)
    meta = json.load(open(os.path.join(path, "assets.extra", METADATA)))
    assert meta["latent_shape"] == [2, 8, 8] and meta["frame_size"] == [16, 16]
    assert meta["video_shape"] == [4, 16, 16, 3] and meta["n_codes"] == 16
    assert meta["signatures"]["sample"]["inputs"] == ["batch_size", "seed", "temperature",
                                                      "top_k", "top_p"]
    assert meta["prior_config"]["hidden_dim"] == 24 and "keras_videogpt_version" in meta
    with pytest.raises(FileExistsError, match="versions are immutable"):
        export_sampler(vqvae, prior, os.path.dirname(path), version=3)


FRESH = r"""
import json, sys
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

path = sys.argv[1]
sm = saved_model_pb2.SavedModel()
sm.ParseFromString(open(path + "/saved_model.pb", "rb").read())
ops, compiled = set(), []
for graph in sm.meta_graphs:
    ops |= {n.op for n in graph.graph_def.node}
    for f in graph.graph_def.library.function:
        ops |= {n.op for n in f.node_def}
        if f.attr.get("_XlaMustCompile") and f.attr["_XlaMustCompile"].b:
            compiled.append(f.signature.name)
functions = {f.signature.name for g in sm.meta_graphs for f in g.graph_def.library.function}
unregistered = sorted(op for op in ops if op not in functions and op_def_registry.get(op) is None)
m = tf.saved_model.load(path)
out = m.signatures["sample"](batch_size=tf.constant(2), seed=tf.constant([5, 6], tf.int64),
                             temperature=tf.constant(0.9), top_k=tf.constant(8),
                             top_p=tf.constant(0.95))
print(json.dumps({"ops": sorted(ops), "unregistered": unregistered, "compiled": compiled,
                  "codes": out["codes"].numpy().tolist(), "video_shape": out["video"].shape.as_list(),
                  "imported": sorted(k for k in sys.modules if k.split(".")[0] in
                                     ("keras_videogpt", "export", "train"))}))
"""


def fresh_process_report(path, tmp_path):
    """Runs FRESH on the SavedModel at `path`; asserts it used TensorFlow's stock ops only."""
    script = tmp_path / "fresh.py"
    script.write_text(FRESH)
    # Run from tmp_path, importing tensorflow only (which itself imports keras).
    out = subprocess.run([sys.executable, str(script), path], cwd=tmp_path, env=ENV,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["imported"] == [] and report["unregistered"] == []
    assert not {"PyFunc", "PyFuncStateless", "EagerPyFunc"} & set(report["ops"])
    return report


def test_fresh_process_gives_same_codes_with_stock_ops_only(plain, tmp_path):
    vqvae, prior, path = plain
    report = fresh_process_report(path, tmp_path)
    assert report["compiled"] == []
    assert not [op for op in report["ops"] if op.lstrip("_").startswith("Xla")]
    assert "While" in report["ops"] or "StatelessWhile" in report["ops"]  # one compiled loop
    expected = sampling.sample(prior, vqvae, 2, seed=[5, 6], **CONTROLS)
    np.testing.assert_array_equal(report["codes"], expected["codes"].numpy())
    assert report["video_shape"] == [2, 4, 16, 16, 3]


def test_classifier_free_guidance_is_fixed_at_export(tmp_path):
    """An autoregressive class-conditional prior exports with its guidance scale fixed: the
    signature keeps its inputs, and the codes are the in-process guided sampler's."""
    vqvae, prior = make_pair(class_cond_dim=3)
    loaded = tf.saved_model.load(export_sampler(vqvae, prior, tmp_path / "cfg",
                                                guidance_scale=3.0))
    label = np.array([0, 2], "int32")
    out = call_sample(loaded, 2, [4, 1], label=tf.constant(label))
    expected = sampling.Sampler(prior, vqvae).sample_codes(2, [4, 1], label=label,
                                                           guidance_scale=3.0, **CONTROLS)
    np.testing.assert_array_equal(out["codes"].numpy(), expected.numpy())
    plain = sampling.Sampler(prior, vqvae).sample_codes(2, [4, 1], label=label, **CONTROLS)
    assert not np.array_equal(expected.numpy(), plain.numpy())
    with pytest.raises(ValueError, match="guidance_scale needs a class-conditional prior"):
        export_sampler(*make_pair(), tmp_path / "bad", guidance_scale=2.0)


def test_an_xla_marked_loop_draws_the_same_codes_in_a_fresh_process(tmp_path):
    """`jit_compile=True` marks the sampling loop for XLA (TF Serving runs it with
    --xla_cpu_compilation_enabled); its ops are still stock TF ops, and TF's own runtime
    compiles it on first call, to the codes the in-process sampler draws."""
    vqvae, prior = make_pair()
    path = export_sampler(vqvae, prior, tmp_path / "xla", jit_compile=True)
    report = fresh_process_report(path, tmp_path)
    assert len(report["compiled"]) >= 1
    expected = sampling.sample(prior, vqvae, 2, seed=[5, 6], **CONTROLS)
    np.testing.assert_array_equal(report["codes"], expected["codes"].numpy())
    meta = json.loads((tmp_path / "xla" / "1" / "assets.extra" / "videogpt.json").read_text())
    assert meta["xla_loop"] is True


@pytest.mark.parametrize("attn", [dict(attn_type="axial"),
                                  dict(attn_type="sparse", sparse_block_size=8,
                                       sparse_local_blocks=2)], ids=["axial", "sparse"])
def test_axial_and_sparse_priors_export_with_stock_ops(attn, tmp_path):
    vqvae, prior = make_pair(**attn)
    report = fresh_process_report(export_sampler(vqvae, prior, tmp_path / "m"), tmp_path)
    expected = sampling.sample(prior, vqvae, 2, seed=[5, 6], **CONTROLS)
    np.testing.assert_array_equal(report["codes"], expected["codes"].numpy())


def test_concurrent_calls_give_the_codes_of_sequential_calls(conditioned):
    """8 threads calling the exported signature at once, as a server would."""
    from concurrent.futures import ThreadPoolExecutor

    _, _, _, loaded = conditioned
    seeds = [[i, 3 * i + 1] for i in range(8)]

    def draw(seed):
        out = call_sample(loaded, 1, seed, cond_frames=frames(1, seed[0]),
                          label=np.array([seed[0] % 3], "int32"))
        return out["codes"].numpy()

    sequential = [draw(seed) for seed in seeds]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(draw, seeds))
    for a, b in zip(sequential, concurrent):
        np.testing.assert_array_equal(a, b)
    assert len({a.tobytes() for a in sequential}) == 8  # the seeds do draw different videos


def test_batch_size_above_the_export_maximum_is_refused(tmp_path):
    vqvae, prior = make_pair()
    loaded = tf.saved_model.load(export_sampler(vqvae, prior, tmp_path / "m", max_batch_size=2))
    with pytest.raises(tf.errors.InvalidArgumentError, match="batch_size must be <= 2"):
        call_sample(loaded, 3, [0, 1])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"seed components .* \[0, 2\*\*32\)"):
        call_sample(loaded, 1, [0, 2 ** 32])
    assert call_sample(loaded, 2, [0, 1])["codes"].shape[0] == 2


def test_saved_model_cli_shows_and_runs_sample(plain, tmp_path):
    vqvae, prior, path = plain
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    show = subprocess.run([cli, "show", "--dir", path, "--all"], env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert show.returncode == 0, show.stderr[-2000:]
    for name in ("sample", "encode", "decode", "serving_default"):
        assert f"signature_def['{name}']" in show.stdout
    assert "inputs['cond_frames']" not in show.stdout  # unconditional prior
    run = subprocess.run(
        [cli, "run", "--dir", path, "--tag_set", "serve", "--signature_def", "sample",
         "--input_exprs", "batch_size=1;seed=[5,6];temperature=0.9;top_k=8;top_p=0.95",
         "--outdir", str(tmp_path / "out")], env=ENV, capture_output=True, text=True,
        timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    video = np.load(tmp_path / "out" / "video.npy")
    assert video.shape == (1, 4, 16, 16, 3) and video.dtype == np.uint8
    expected = sampling.sample(prior, vqvae, 1, seed=[5, 6], **CONTROLS)
    np.testing.assert_array_equal(video, expected["video_uint8"].numpy())


def test_conditioned_export_matches_in_process(conditioned):
    vqvae, prior, _, loaded = conditioned
    cond = dict(cond_frames=frames(3), label=np.array([0, 2, 1], "int32"))
    out = call_sample(loaded, 3, [[1, 2], [9, 9], [4, 4]], **cond)
    expected = sampling.sample(prior, vqvae, 3, seed=np.array([[1, 2], [9, 9], [4, 4]]),
                               **CONTROLS, **cond)
    np.testing.assert_array_equal(out["codes"].numpy(), expected["codes"].numpy())
    np.testing.assert_array_equal(out["video"].numpy(), expected["video_uint8"].numpy())
    # encode and decode agree with the in-process VQ-VAE.
    video = expected["video_uint8"].numpy()
    codes = loaded.signatures["encode"](video=tf.constant(video))["codes"]
    np.testing.assert_array_equal(codes.numpy(), vqvae.encode(video).numpy())
    decoded = loaded.signatures["decode"](codes=codes)["video"]
    assert decoded.dtype == tf.uint8 and decoded.shape == (3, 4, 16, 16, 3)
    expected_video = np.round((np.clip(vqvae.decode(codes).numpy(), -.5, .5) + .5) * 255)
    np.testing.assert_array_equal(decoded.numpy(), expected_video.astype("uint8"))


@pytest.mark.parametrize("change, message", [
    (dict(batch_size=0), "batch_size must be >= 1"),
    (dict(top_p=1.5), r"top_p must be in \(0, 1\]"),
    (dict(top_p=0.0), r"top_p must be in \(0, 1\]"),
    (dict(temperature=0.0), "temperature must be > 0"),
    (dict(top_k=-1), "top_k must be >= 0"),
    (dict(cond_frames=np.zeros((2, 1, 8, 8, 3), "uint8")), "cond_frames must be uint8"),
    (dict(cond_frames=np.zeros((3, 1, 16, 16, 3), "uint8")), "cond_frames must hold batch_size"),
    (dict(label=np.array([0, 7], "int32")), "label must be < 3"),
    (dict(seed=np.zeros((3, 2), "int64")), "one \\[2\\] pair per video"),
    (dict(seed=np.zeros((3,), "int64")), "seed must end in a dimension of 2"),
])
def test_bad_signature_inputs_fail_with_a_clear_message(conditioned, change, message):
    loaded = conditioned[3]
    args = dict(batch_size=2, seed=np.array([1, 2], "int64"), temperature=1.0, top_k=0,
                top_p=1.0, cond_frames=frames(2), label=np.array([0, 1], "int32"))
    args.update(change)
    fn = loaded.signatures["sample"]
    specs = fn.structured_input_signature[1]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        fn(**{k: tf.constant(v, specs[k].dtype) for k, v in args.items()})


def test_decode_and_encode_refuse_bad_input(conditioned):
    loaded = conditioned[3]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"codes must lie in \[0, 16\)"):
        loaded.signatures["decode"](codes=tf.fill([1, 2, 8, 8], 16))
    with pytest.raises(tf.errors.InvalidArgumentError, match="codes must be int32"):
        loaded.signatures["decode"](codes=tf.zeros([1, 2, 8, 9], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="video must be uint8"):
        loaded.signatures["encode"](video=tf.zeros([1, 4, 16, 8, 3], tf.uint8))


def test_rest_client_against_a_local_server(conditioned, tmp_path):
    import model_server

    vqvae, prior, _, loaded = conditioned
    server, url = model_server.start_rest(loaded, "videogpt")
    try:
        rest = client_lib.RestClient(url, "videogpt", version=1)
        assert rest.endpoint == f"{url}/v1/models/videogpt/versions/1:predict"
        cond = dict(cond_frames=frames(2, 1), label=[2, 0])
        out = rest.sample(batch_size=2, seed=[7, 1], **CONTROLS, **cond)
        expected = sampling.sample(prior, vqvae, 2, seed=[7, 1], **CONTROLS, **cond)
        assert out["video"].dtype == np.uint8 and out["codes"].dtype == np.int32
        np.testing.assert_array_equal(out["codes"], expected["codes"].numpy())
        np.testing.assert_array_equal(out["video"], expected["video_uint8"].numpy())
        np.testing.assert_array_equal(rest.encode(out["video"]), vqvae.encode(out["video"]))
        assert rest.decode(out["codes"]).shape == (2, 4, 16, 16, 3)
        # The server's error reaches the caller with its message.
        with pytest.raises(client_lib.ServingError, match=r"top_p must be in \(0, 1\]"):
            rest.sample(batch_size=2, seed=0, top_p=0.0, **cond)
        with pytest.raises(client_lib.ServingError, match="Servable not found"):
            client_lib.RestClient(url, "other").sample(**cond)
        with pytest.raises(TypeError, match="uint8"):
            rest.sample(batch_size=2, cond_frames=frames(2).astype("float32"), label=[0, 0])
        paths = client_lib.save_videos(out["video"], tmp_path / "gif")
        paths += client_lib.save_videos(out["video"], tmp_path / "mp4", fmt="mp4")
    finally:
        server.shutdown()
        server.server_close()
    assert len(paths) == 4 and all(os.path.getsize(p) > 0 for p in paths)
    import av

    with av.open(paths[-1]) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 4 and decoded[0].shape == (16, 16, 3)
    with pytest.raises(client_lib.ServingError, match="Could not reach"):
        client_lib.RestClient(url, "videogpt", timeout=5).sample(**cond)


def test_grpc_client_against_a_local_server(conditioned):
    import model_server

    vqvae, prior, _, loaded = conditioned
    server, target = model_server.start_grpc(loaded, "videogpt")
    try:
        grpc_client = client_lib.GrpcClient(target, "videogpt")
        cond = dict(cond_frames=frames(1, 2), label=[1])
        out = grpc_client.sample(batch_size=1, seed=3, **CONTROLS, **cond)
        expected = sampling.sample(prior, vqvae, 1, seed=3, **CONTROLS, **cond)
        np.testing.assert_array_equal(out["codes"], expected["codes"].numpy())
        with pytest.raises(client_lib.ServingError, match=r"(?s)INVALID_ARGUMENT.*batch_size must be >= 1"):
            grpc_client.sample(batch_size=0, **cond)
    finally:
        server.stop(None)


def test_export_command_line(plain, tmp_path):
    vqvae, prior, _ = plain
    vqvae.save(tmp_path / "vqvae.keras")
    prior.save(tmp_path / "prior.keras")
    run = lambda *a: subprocess.run([sys.executable, "-m", "export.sampler", *a], cwd=ROOT,
                                    env=ENV, capture_output=True, text=True, timeout=600)
    out = run(f"--vqvae={tmp_path}/vqvae.keras", f"--prior={tmp_path}/vqvae.keras",
              f"--out={tmp_path}/m")
    assert out.returncode != 0 and "holds a VQVAE, not a VideoGPT" in out.stderr
    assert "Traceback" not in out.stderr
    out = run(f"--vqvae={tmp_path}/vqvae.keras", f"--prior={tmp_path}/prior.keras",
              f"--out={tmp_path}/m", "--version=2")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith(os.path.join("m", "2"))
    assert os.path.exists(tmp_path / "m" / "2" / "assets.extra" / METADATA)


def test_client_command_line_writes_videos(plain, tmp_path):
    import model_server

    vqvae, prior, path = plain
    server, url = model_server.start_rest(tf.saved_model.load(path), "videogpt")
    try:
        out = subprocess.run(
            [sys.executable, "-m", "export.client", f"--url={url}", "--model=videogpt",
             "--batch_size=2", "--seed=4", f"--out={tmp_path}/served", "--format=gif"],
            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["video_shape"] == [2, 4, 16, 16, 3] and len(report["videos"]) == 2
    assert all(os.path.getsize(p) > 0 for p in report["videos"])
    # --seed=4 is the int seed 4, i.e. rows (0, 4) and (1, 4), as in Python.
    expected = sampling.sample(prior, vqvae, 2, seed=4)["codes"].numpy()
    np.testing.assert_array_equal(np.load(tmp_path / "served" / "codes.npy"), expected)
