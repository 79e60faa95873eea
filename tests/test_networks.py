"""The networks of `AVA.from_preset`: the size rule, exact shapes, the small family, round trips."""

import keras
import numpy as np
import pytest

import ava_keras as ak
from ava_keras import layers, losses
from ava_keras.errors import InputError
from ava_keras.models import networks
from ava_keras.models.network_sizes import resolve_networks

# image shape -> (stride-2 levels, coarsest encoder map, latent size, patch logit map), written out by hand
# from the rule: levels = max(1, floor(log2(min(H, W) / 4))), "same" convolutions give ceil(H / 2**levels),
# widths 16 * 2**level up to 256, latent = the power of 2 nearest sqrt(H * W), the patch d has one level fewer.
SIZE_RULE = {
    (28, 28, 1): (2, (7, 7, 32), 32, (14, 14)),
    (32, 32, 3): (3, (4, 4, 64), 32, (8, 8)),
    (64, 64, 3): (4, (4, 4, 128), 64, (8, 8)),
    (128, 128, 3): (5, (4, 4, 256), 128, (8, 8)),
    (83, 60, 3): (3, (11, 8, 64), 64, (21, 15)),
}


@pytest.mark.parametrize("image_shape", list(SIZE_RULE))
def test_scaled_networks_follow_the_size_rule_with_exact_shapes(image_shape):
    levels, coarsest, latent_dim, patch_map = SIZE_RULE[image_shape]
    blocks = networks.build_networks(image_shape, networks="scaled", discriminator="patch")
    encoder, decoder, patch = blocks["encoder"], blocks["decoder"], blocks["discriminator"]
    assert len(encoder.filters) == len(decoder.filters) == levels
    assert encoder.filters == tuple(min(16 * 2**k, 256) for k in range(levels)) == decoder.filters[::-1]
    assert (encoder.normalization, decoder.normalization, decoder.upsampling) == ("group", "group", "resize")
    images = np.random.default_rng(0).random((2,) + image_shape).astype("float32")
    shape = (2,) + image_shape
    for conv in encoder.conv_layers:
        shape = conv.compute_output_shape(shape)
    assert shape[1:] == coarsest
    mean, log_var = encoder(images)
    assert tuple(mean.shape) == tuple(log_var.shape) == (2, latent_dim)
    reconstructions = keras.ops.convert_to_numpy(decoder(mean))
    assert reconstructions.shape == (2,) + image_shape
    assert 0.0 <= reconstructions.min() and reconstructions.max() <= 1.0
    assert tuple(patch(images).shape) == (2,) + patch_map + (1,)
    glob = networks.build_networks(image_shape, networks="scaled")["discriminator"]
    assert isinstance(glob, layers.Discriminator) and not isinstance(glob, layers.PatchDiscriminator)
    assert tuple(glob(images).shape) == (2, 1) and glob.filters == encoder.filters


def test_small_networks_are_the_ones_from_preset_has_always_built():
    model = ak.AVA.from_preset("ava5", image_shape=(64, 64, 3), networks="small")
    config = {block: getattr(model, block).get_config() for block in ("encoder", "decoder", "discriminator")}
    assert (config["encoder"]["filters"], config["encoder"]["hidden_units"]) == ([32, 64], 128)
    assert (config["decoder"]["filters"], config["decoder"]["upsampling"]) == ([64, 32], "transpose")
    assert config["encoder"]["normalization"] is None and config["decoder"]["normalization"] is None
    assert config["discriminator"]["filters"] == [32, 64] and model.latent_dim == 32
    assert type(model.discriminator) is layers.Discriminator
    assert model.latent_discriminator.units == (64, 64)


@pytest.mark.parametrize(
    "image_shape, family",
    [((28, 28, 1), "small"), ((32, 32, 3), "small"), ((32, 20, 3), "small"), ((33, 32, 3), "scaled"),
     ((64, 64, 3), "scaled"), ((83, 60, 3), "scaled")],
)
def test_auto_networks_are_small_up_to_32_pixels_a_side_and_scaled_above(image_shape, family):
    assert resolve_networks("auto", *image_shape[:2]) == family
    assert resolve_networks(family, *image_shape[:2]) == family
    default = ak.AVA.from_preset("ava5", image_shape=image_shape)
    chosen = ak.AVA.from_preset("ava5", image_shape=image_shape, networks=family)
    assert [w.shape for w in default.weights] == [w.shape for w in chosen.weights]
    assert default.decoder.upsampling == ("transpose" if family == "small" else "resize")


def test_overrides_and_bad_choices():
    blocks = networks.build_networks(
        (64, 64, 3), networks="scaled", discriminator="patch", latent_dim=8, discriminator_filters=(16,)
    )
    assert blocks["encoder"].latent_dim == 8 and blocks["discriminator"].filters == (16,)
    assert networks.build_networks((64, 64, 3), with_discriminator=False)["discriminator"] is None
    with pytest.raises(InputError, match="networks='big'"):
        resolve_networks("big", 64, 64)
    for kwargs, culprit in (
        ({"networks": "big"}, "networks='big'"),
        ({"discriminator": "local"}, "discriminator='local'"),
        ({"encoder_width": 3}, "encoder_width"),
        ({"normalization": "batch"}, "normalization='batch'"),
    ):
        with pytest.raises(InputError, match=culprit):
            networks.build_networks((64, 64, 3), **kwargs)
    with pytest.raises(InputError, match="networks='big'"):
        ak.AVA.from_preset("vae", image_shape=(28, 28, 1), networks="big")


def _scaled_patch_model():
    # The scaled networks of 83x60 images at reduced widths (the rule is tested above), so the test stays quick.
    return ak.AVA.from_preset(
        "ava5", image_shape=(83, 60, 3), networks="scaled", discriminator="patch", seed=0,
        encoder_filters=(8, 8, 16), decoder_filters=(16, 8, 8), discriminator_filters=(8, 8),
    )


@pytest.mark.integration
def test_scaled_model_with_patch_discriminator_survives_a_keras_file(tmp_path):
    model = _scaled_patch_model()
    model.compile()
    images = np.random.default_rng(0).random((6, 83, 60, 3)).astype("float32")
    model.fit(images, batch_size=3, epochs=1, verbose=0)  # trains every block, d on patches
    path = tmp_path / "scaled.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.discriminator) is layers.PatchDiscriminator
    assert loaded.decoder.get_config() == model.decoder.get_config()
    np.testing.assert_array_equal(loaded.reconstruct(images), model.reconstruct(images))
    np.testing.assert_array_equal(loaded.discriminate(images), model.discriminate(images))
    realism = model.anomaly_scores(images)["realism"]
    assert realism.shape == (6,)  # the mean patch logit, one per image
    logits = keras.ops.convert_to_numpy(model.discriminator(images))
    np.testing.assert_allclose(realism, logits.reshape(6, -1).mean(axis=1), rtol=1e-5, atol=1e-6)


def test_scaled_model_config_round_trip():
    model = _scaled_patch_model()
    clone = ak.AVA.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert type(clone.discriminator) is layers.PatchDiscriminator and clone.latent_dim == model.latent_dim


def test_patch_terms_average_over_patches_with_one_leaning_coefficient_per_example():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 4, 1)).astype("float32")  # batch 3 differs from every map side
    real = rng.normal(size=(3, 5, 4, 1)).astype("float32")
    coefficient = rng.normal(size=(3, 1)).astype("float32")
    sigmoid = 1.0 / (1.0 + np.exp(-logits))
    expected = -np.mean(coefficient[:, :, None, None] * sigmoid)
    np.testing.assert_allclose(float(losses.leaning_loss(coefficient, logits)), expected, rtol=1e-6)
    np.testing.assert_allclose(
        float(losses.generator_loss(logits, "non_saturating")), np.mean(np.logaddexp(0.0, -logits)), rtol=1e-6
    )
    np.testing.assert_allclose(
        float(losses.discriminator_loss(real, logits)),
        np.mean(np.logaddexp(0.0, -real) + np.logaddexp(0.0, logits)), rtol=1e-6,
    )
