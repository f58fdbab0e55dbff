"""Convert a folder of video files into TFRecord shards of fixed-length clips (PyAV)."""

import json
import math
import os
import stat

import numpy as np
import tensorflow as tf

from keras_videogpt.data.tfrecords import METADATA, ShardWriter, clip_example

VIDEO_EXTENSIONS = (".mp4", ".avi", ".gif", ".webm", ".mov", ".mkv")


def find_videos(root, skipped=None):
    """Video files under `root`, sorted, and their class (first sub-folder) if any.

    Only regular files are taken: a FIFO, socket or device named like a video
    would block or fail the decoder. They, and names that are not valid
    UTF-8, are left out and, when `skipped` is a list, appended to it as
    `{"file", "reason"}`.
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"No folder at '{root}'.")
    found = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            if not name.lower().endswith(VIDEO_EXTENSIONS):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                if skipped is not None:
                    shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
                    skipped.append({"file": shown, "reason": "file name is not valid UTF-8"})
                continue
            try:
                regular = stat.S_ISREG(os.stat(path).st_mode)
            except OSError as e:
                regular, why = False, f"cannot be read: {e.strerror}"
            else:
                why = "not a regular file (a FIFO, socket, device or broken link)"
            if not regular:
                if skipped is not None:
                    skipped.append({"file": rel, "reason": why})
                continue
            parts = rel.split(os.sep)
            found.append((path, parts[0] if len(parts) > 1 else None))
    return sorted(found)


def _prepare_destination(dst, overwrite):
    """Refuses a non-empty `dst` unless `overwrite`; then removes only our own shards."""
    if not tf.io.gfile.isdir(dst) or not tf.io.gfile.listdir(dst):
        return
    ours = [os.path.join(dst, n) for n in tf.io.gfile.listdir(dst)
            if n == METADATA or (n.startswith("clips-") and n.endswith(".tfrecord"))]
    if not overwrite:
        raise FileExistsError(
            f"'{dst}' is not empty: old shards would mix into the new clips. Pick an empty "
            "folder, or pass overwrite=True (--overwrite) to replace the clip shards and "
            "metadata.json there (other files are left alone).")
    for path in ours:
        tf.io.gfile.remove(path)


def resize_and_crop(frames, resolution):
    """Resize the shorter side to `resolution` (bilinear), then center crop to a square.

    `frames` is uint8 `[T, H, W, 3]`. The long side becomes
    `ceil(long * resolution / short)`, as in the reference's preprocessing.
    """
    t, h, w, _ = frames.shape
    scale = resolution / min(h, w)
    size = (resolution, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), resolution)
    resized = tf.image.resize(frames, size, method="bilinear", antialias=False)
    top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    cropped = resized[:, top:top + resolution, left:left + resolution]
    return tf.cast(tf.clip_by_value(tf.round(cropped), 0, 255), tf.uint8).numpy()


def decode_frames(path, resolution=None, max_frames=None):
    """Frames of a video as uint8 RGB `[T, H, W, 3]`, decoded one by one with PyAV.

    With `resolution`, each frame is resized and cropped (`resize_and_crop`) as
    soon as it is decoded, so a long high-resolution video never sits in
    memory at full size. Decoding stops after `max_frames` frames.
    """
    import av

    frames = []
    with av.open(path) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            if resolution is not None:
                rgb = resize_and_crop(rgb[None], resolution)[0]
            frames.append(rgb)
            if max_frames is not None and len(frames) >= max_frames:
                break
    if not frames:
        raise ValueError("no decodable frames")
    return np.stack(frames)


def convert_video_folder(src, dst, sequence_length=16, resolution=64, stride=None,
                         max_clips_per_video=None, clips_per_shard=256, overwrite=False,
                         log=print):
    """Writes `dst/clips-NNNNN.tfrecord` and `dst/metadata.json` from the videos under `src`.

    Each video is decoded with PyAV, every frame resized so that its shorter
    side is `resolution` and center-cropped, and cut into clips of
    `sequence_length` frames starting every `stride` frames (default: no
    overlap). Files in sub-folders of `src` get the sub-folder as their
    class; the labels are the sorted class names' indices.

    Corrupt or unreadable files, files shorter than `sequence_length` frames,
    special files (FIFOs, sockets, devices) and names that are not UTF-8 are
    skipped; they are counted and named in the returned report and in
    `metadata.json`, and the run goes on.

    A `dst` that is not empty is refused, so that old shards never mix into
    the new clips; with `overwrite=True` our own files there (`clips-*.tfrecord`,
    `metadata.json`) are removed first and nothing else is touched.

    Returns:
        The report dict that is also saved as `metadata.json`.
    """

    stride = stride or sequence_length
    skipped = []
    videos = find_videos(src, skipped)
    for item in skipped:
        log(f"skipped {item['file']}: {item['reason']}")
    if not videos:
        raise FileNotFoundError(f"No video files ({', '.join(VIDEO_EXTENSIONS)}) under '{src}'.")
    _prepare_destination(dst, overwrite)
    classes = sorted({c for _, c in videos if c is not None})
    label_of = {c: i for i, c in enumerate(classes)}
    writer = ShardWriter(dst, per_shard=clips_per_shard)
    per_video = {}
    for path, cls in videos:
        name = os.path.relpath(path, src)
        max_frames = None
        if max_clips_per_video:
            max_frames = (max_clips_per_video - 1) * stride + sequence_length
        try:
            frames = decode_frames(path, resolution, max_frames)
        except Exception as e:  # PyAV raises many error types for bad files
            skipped.append({"file": name, "reason": f"unreadable: {type(e).__name__}: {e}"})
            log(f"skipped {name}: unreadable ({type(e).__name__}: {e})")
            continue
        if len(frames) < sequence_length:
            skipped.append({"file": name, "reason": f"too short: {len(frames)} frames < "
                                                    f"{sequence_length}"})
            log(f"skipped {name}: {len(frames)} frames, fewer than {sequence_length}")
            continue
        starts = range(0, len(frames) - sequence_length + 1, stride)
        if max_clips_per_video:
            starts = list(starts)[:max_clips_per_video]
        label = label_of[cls] if cls is not None else -1
        count = 0
        for s in starts:
            writer.write(clip_example(frames[s:s + sequence_length], label, name))
            count += 1
        per_video[name] = count
    shards = writer.close()
    report = {
        "clip_shape": [sequence_length, resolution, resolution, 3],
        "num_clips": writer.count,
        "num_videos": len(per_video),
        "classes": classes,
        "shards": [os.path.basename(p) for p in shards],
        "clips_per_video": per_video,
        "skipped": skipped,
        "num_skipped": len(skipped),
    }
    with tf.io.gfile.GFile(os.path.join(dst, METADATA), "w") as f:
        json.dump(report, f, indent=1)
    log(f"wrote {writer.count} clips from {len(per_video)} videos into {len(shards)} shards; "
        f"skipped {len(skipped)}")
    return report
