"""A/B: one discriminator call on [real; fake] against two calls (what `AVA` does).

    python benchmarks/discriminator_concat_ab.py --out docs/performance/discriminator_concat_ab.json

A discriminator without batch statistics gives the same logits either way,
but one call on a batch of 128 might use the CPU better than two of 64.
Builds each preset twice in one process, once per variant (`concatenated`
replaces `AVA._adversary_terms`), and times them in alternation, every
step's wall time less the host's pauses (`HostStallMonitor`). Prints the
median step time per variant.
"""

import argparse
import json
import statistics
import time

import numpy as np
import tensorflow as tf
from keras import ops

import ava_keras as ak
from ava_keras import losses
from ava_keras.benchmarks import HostStallMonitor
from ava_keras.benchmarks.step_timer import StepTimer
from ava_keras.models.ava import AVA

SEPARATE = AVA._adversary_terms


def concatenated(self, network, real, fake, leaning_coefficient, supervise, lean, training):
    """`AVA._adversary_terms` with a single discriminator call."""
    batch = ops.shape(real)[0]
    logits = network(ops.concatenate([real, fake], axis=0), training=training)
    real_logits, fake_logits = logits[:batch], logits[batch:]
    discriminator_loss = losses.discriminator_loss(real_logits, fake_logits)
    leaning = losses.leaning_loss(leaning_coefficient, fake_logits)
    objective = supervise * discriminator_loss + lean * self.loss_weights_config["leaning_weight"] * leaning
    terms = {"loss": discriminator_loss,
             "real": ops.mean(ops.sigmoid(real_logits)), "fake": ops.mean(ops.sigmoid(fake_logits))}
    return losses.generator_loss(fake_logits, self.generator_loss), objective, terms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="ava1,ava5")
    parser.add_argument("--shape", default="64x64x3")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    shape = tuple(int(n) for n in args.shape.split("x"))
    images = np.random.default_rng(0).random((256,) + shape).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(64, drop_remainder=True).repeat()
    models = {}
    for preset in args.presets.split(","):
        for variant, terms in (("separate", SEPARATE), ("concatenated", concatenated)):
            AVA._adversary_terms = terms  # read when train_step is traced, during the warm-up fit
            model = ak.AVA.from_preset(preset, image_shape=shape, seed=0)
            model.compile()
            model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)
            models[(preset, variant)] = model
    AVA._adversary_terms = SEPARATE
    intervals = {key: [] for key in models}
    with HostStallMonitor() as monitor:
        for _ in range(args.rounds):
            for key, model in models.items():
                timer = StepTimer()
                model.fit(dataset, steps_per_epoch=args.steps + 1, epochs=1, verbose=0, callbacks=[timer])
                intervals[key] += timer.intervals[1:]
    result = {"command": "python benchmarks/discriminator_concat_ab.py " + " ".join(
        f"--{k} {v}" for k, v in vars(args).items() if k != "out" and v is not None), "results": []}
    for (preset, variant), spans in intervals.items():
        busy = [monitor.busy_seconds(start, end) for start, end in spans]
        row = {"preset": preset, "variant": variant, "shape": args.shape, "steps": len(busy),
               "step_ms_median": 1e3 * statistics.median(busy), "step_ms_raw_median":
               1e3 * statistics.median(end - start for start, end in spans)}
        result["results"].append(row)
        print(f"{preset} {variant:>12}: {row['step_ms_median']:.1f} ms/step (raw {row['step_ms_raw_median']:.1f}; "
              f"{row['steps']} steps)")
    if args.out:
        with open(args.out, "w") as file:
            json.dump(result, file, indent=2)


if __name__ == "__main__":
    main()
