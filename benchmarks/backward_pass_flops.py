"""FLOPs of a joint-routing step with one shared backward pass for the encoder and decoder, and with one per block.

    python benchmarks/backward_pass_flops.py --out docs/performance/backward_pass_flops.json

In joint routing the decoder's objective is the encoder's minus K, so
`AVA._gradient_groups` takes both blocks' gradients from one backward pass.
Before that change every block had its own tape: a second backward pass
through d, D and the decoder. This script counts both with
`ak.benchmarks.step_flops` (nothing is timed, so the counts do not depend on
the machine's load): `one_tape_per_block` overrides `_gradient_groups` to
give every block its own tape, as before.
"""

import argparse
import json

import tensorflow as tf

import ava_keras as ak
from ava_keras.benchmarks import step_flops

SHAPE, BATCH_SIZE = (64, 64, 3), 64


class OneTapePerBlock(ak.AVA):
    """`AVA` with a separate backward pass for every block (the step before the shared pass)."""

    def _gradient_groups(self):
        return [(block,) for group in super()._gradient_groups() for block in group]


def count(model_class, preset):
    model = ak.AVA.from_preset(preset, image_shape=SHAPE, seed=0)
    model = model_class.from_config(model.get_config())
    model.compile()
    total, _ = step_flops(model.train_step, tf.TensorSpec((BATCH_SIZE,) + SHAPE, tf.float32))
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    for preset in ("vae", "ava5"):
        row = {"preset": preset, "shared_backward_pass_gflop": count(ak.AVA, preset) / 1e9,
               "one_tape_per_block_gflop": count(OneTapePerBlock, preset) / 1e9}
        rows.append(row)
        print(f"{preset}: {row['one_tape_per_block_gflop']:.1f} GFLOP/step with one tape per block, "
              f"{row['shared_backward_pass_gflop']:.1f} with the shared backward pass")
    if args.out:
        with open(args.out, "w") as file:
            json.dump({"command": "python benchmarks/backward_pass_flops.py", "shape": list(SHAPE),
                       "batch_size": BATCH_SIZE, "routing": "joint", "results": rows}, file, indent=2)


if __name__ == "__main__":
    main()
