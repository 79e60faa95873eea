"""A/B of the streaming decoder: TensorFlow's native ops in the graph vs the thread-pool Pillow decoder.

    python benchmarks/decode_ab.py --out docs/performance/decode_ab.json

The pipelines read the same JPEG folder, batch by batch, as `image_folder(cache=False)` does:
- "pillow": the library's decoder (one `tf.numpy_function` call per batch, Pillow in a thread pool);
- "tf_native": `tf.io.read_file` + `tf.io.decode_image` + central crop + `tf.image.resize`
  (bicubic, antialiased, as Pillow's resampling) per file, in `map(num_parallel_calls=AUTOTUNE)`;
- "tf_native_checked": the same decoder with per-file error capture (`tf_native_checked_decoder`).
Each pass is one full epoch; passes alternate between the pipelines and the medians (host pauses
excluded) are reported, with the largest and mean absolute pixel difference between the Pillow and TensorFlow decoders.
"""

import argparse
import os
import statistics
import tempfile
import time

from _report import write_result


def tf_native_decoder(size, channels):
    """The per-file `tf.io` decoder measured against Pillow (central crop to the aspect ratio, then resize)."""
    import tensorflow as tf

    height, width = size

    def decode(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = tf.minimum(shape[0] / height, shape[1] / width)
        crop = tf.cast(tf.round(tf.constant([height, width], tf.float32) * scale), tf.int32)
        offset = (tf.shape(image)[:2] - crop) // 2
        image = tf.image.crop_to_bounding_box(image, offset[0], offset[1], crop[0], crop[1])
        image = tf.image.resize(image, size, method="bicubic", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)

    return decode


def tf_native_checked_decoder(size, channels, skipped):
    """`tf_native_decoder` with per-file error capture, as the library would need it: batch map function.

    Each batch of paths is decoded by a nested dataset (parallel map, `ignore_errors`), so a file that
    fails is dropped instead of stopping the epoch; a Python call per batch then names the dropped files
    in `skipped` (TensorFlow does not say why) and repeats the last batch when none decoded.
    """
    import numpy as np
    import tensorflow as tf

    decode = tf_native_decoder(size, channels)
    empty = (tf.zeros([0], tf.string), tf.zeros((0,) + size + (channels,), tf.uint8))
    last_good = []

    def record(batch_paths, decoded_paths, images):
        missing = set(batch_paths.tolist()) - set(decoded_paths.tolist())
        skipped.extend((path.decode(), "TensorFlow could not decode it") for path in sorted(missing))
        if len(images):
            last_good[:] = [images]
        return last_good[0] if last_good else images

    def decode_batch(batch_paths):
        decoded = (tf.data.Dataset.from_tensor_slices(batch_paths)
                   .map(lambda path: (path, decode(path)), num_parallel_calls=tf.data.AUTOTUNE)
                   .ignore_errors().batch(1 << 30)
                   .concatenate(tf.data.Dataset.from_tensors(empty)).take(1).get_single_element())
        images = tf.numpy_function(record, [batch_paths, *decoded], tf.uint8, stateful=True)
        images.set_shape((None,) + size + (channels,))
        return images

    return decode_batch


def run(args):
    import numpy as np
    import tensorflow as tf

    import ava_keras as ak
    from ava_keras.benchmarks.host_stalls import HostStallMonitor
    from ava_keras.benchmarks.measure import write_jpegs

    size = (args.image_size, args.image_size)
    with tempfile.TemporaryDirectory() as directory:
        write_jpegs(directory, args.files, size=args.file_size)
        paths = ak.data.find_image_files(directory)
        pillow = ak.data.image_folder(directory, size, batch_size=args.batch_size, cache=False, shuffle=False)
        native = (tf.data.Dataset.from_tensor_slices(paths)
                  .map(tf_native_decoder(size, 3), num_parallel_calls=tf.data.AUTOTUNE)
                  .batch(args.batch_size)
                  .map(lambda x: tf.cast(x, tf.float32) / 255.0, num_parallel_calls=tf.data.AUTOTUNE)
                  .prefetch(tf.data.AUTOTUNE))
        skipped = []
        checked = (tf.data.Dataset.from_tensor_slices(paths).batch(args.batch_size)
                   .map(tf_native_checked_decoder(size, 3, skipped), num_parallel_calls=tf.data.AUTOTUNE)
                   .map(lambda x: tf.cast(x, tf.float32) / 255.0, num_parallel_calls=tf.data.AUTOTUNE)
                   .prefetch(tf.data.AUTOTUNE))
        a = np.concatenate([b.numpy() for b in pillow]) * 255
        b = np.concatenate([b.numpy() for b in native]) * 255
        difference = np.abs(a.round() - b.round())
        checked_equal = bool(np.array_equal(np.concatenate([c.numpy() for c in checked]) * 255, b))
        rates = {"pillow": [], "tf_native": [], "tf_native_checked": []}
        with HostStallMonitor() as monitor:
            for _ in range(args.passes):
                for name, dataset in (("pillow", pillow), ("tf_native", native), ("tf_native_checked", checked)):
                    start = time.perf_counter()
                    count = sum(int(batch.shape[0]) for batch in dataset)
                    rates[name].append(count / monitor.busy_seconds(start, time.perf_counter()))
    result = {
        "command": "python benchmarks/decode_ab.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "files": args.files, "file_size": args.file_size, "image_size": args.image_size,
        "batch_size": args.batch_size, "cpus": os.cpu_count(),
        "images_per_second": {name: statistics.median(values) for name, values in rates.items()},
        "images_per_second_per_pass": rates,
        "max_abs_pixel_difference": float(difference.max()),
        "mean_abs_pixel_difference": float(difference.mean()),
        "share_of_pixels_differing_by_more_than_2": float((difference > 2).mean()),
        "tf_native_checked_equals_tf_native": checked_equal,
    }
    return write_result(result, args.out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--file-size", type=int, default=96, help="side of the JPEGs written")
    parser.add_argument("--image-size", type=int, default=64, help="side of the decoded images")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--out", default=None)
    raise SystemExit(run(parser.parse_args()))
