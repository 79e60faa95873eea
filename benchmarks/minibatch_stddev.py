"""Runs an ava-keras command with a minibatch standard-deviation feature in the patch d (docs/quality.md).

A research ingredient, not a package option: ProGAN's minibatch standard
deviation (Karras et al. 2018, section 3) lets a discriminator see how
much the images of a batch differ, so a generator that gives many images
the same texture is easy to tell apart. Before the PatchDiscriminator's
logit convolution this appends one channel: at every position of the last
feature map, the standard deviation over the batch of each feature,
averaged over the features (kept per position, since each logit judges one
patch). The rest of the command is the package's own:

    python benchmarks/minibatch_stddev.py experiment quality --dataset photos --image-size 64 \
        --networks scaled --presets ava5 --discriminator patch --adaptive-adversarial-weight \
        --steps 1500 --samples 1000 --no-baseline --seeds 3 --label NAME --out DIR

Models it trains hold the patched d and are not meant to be saved.
"""

import sys
from unittest import mock

from keras import ops

from ava_keras import cli
from ava_keras.layers.patch_discriminator import PatchDiscriminator


def with_batch_stddev(features):
    """`features` with one more channel: the batch SD of each feature, averaged over the features, per position."""
    stddev = ops.sqrt(ops.var(features, axis=0, keepdims=True) + 1e-8)
    stddev = ops.mean(stddev, axis=-1, keepdims=True)
    return ops.concatenate([features, ops.broadcast_to(stddev, ops.shape(features)[:-1] + (1,))], axis=-1)


def _build_with_stddev(self, inputs_shape, labels_shape=None):
    shape = self._build_convolutions(inputs_shape)
    self.logit.build(shape[:-1] + (shape[-1] + 1,))
    self._build_projection(shape[-1])
    self.built = True


def _call_with_stddev(self, inputs, labels=None, training=False):
    x = self.dropout_layer(self._feature_map(inputs, training=training), training=training)
    return self._projected(self.logit(with_batch_stddev(x), training=training), x, labels)


def minibatch_stddev():
    """Every PatchDiscriminator built inside the block has the batch-SD channel.

    A context manager (`unittest.mock.patch.multiple`) that restores the class on exit.
    """
    return mock.patch.multiple(PatchDiscriminator, build=_build_with_stddev, call=_call_with_stddev)


def main(argv=None):
    with minibatch_stddev():
        return cli.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
