"""The AVA model's public behaviour: presets, fit/evaluate/predict, switches, saving, misuse."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import ava_keras as ak
from tests._tiny import IMAGE_SHAPE, block_weights, sgd_compile, tiny_images, tiny_model

LOG_KEYS = {
    "loss", "reconstruction", "kl", "decoder_adversarial", "encoder_adversarial",
    "discriminator_loss", "latent_discriminator_loss", "d_real", "d_fake",
    "latent_d_real", "latent_d_fake",
}


@pytest.mark.parametrize(
    "preset,has_d,has_latent_d",
    [("vae", False, False), ("ava1", True, False), ("ava2", True, False),
     ("ava3", True, True), ("ava4", True, True), ("ava5", True, True)],
)
def test_from_preset_builds_the_blocks_and_switches_of_the_preset(preset, has_d, has_latent_d):
    model = tiny_model(preset)
    assert (model.discriminator is not None) == has_d
    assert (model.latent_discriminator is not None) == has_latent_d
    assert model.variant == ak.PRESETS[preset]["switches"]
    assert model.preset == preset
    assert model.latent_dim == 3 and model.built


def test_fit_evaluate_predict_on_numpy_and_tf_data_log_every_term():
    model = tiny_model("ava5")
    model.compile()
    images = tiny_images(16)
    history = model.fit(images, batch_size=8, epochs=1, verbose=0)
    assert set(history.history) == LOG_KEYS
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(8)
    history = model.fit(dataset, validation_data=dataset, epochs=1, verbose=0)
    assert set(history.history) == LOG_KEYS | {f"val_{k}" for k in LOG_KEYS}
    assert all(np.isfinite(v[0]) for v in history.history.values())
    results = model.evaluate(dataset, return_dict=True, verbose=0)
    assert set(results) == LOG_KEYS
    assert model.predict(images, verbose=0).shape == images.shape
    assert 0.0 <= results["d_real"] <= 1.0


def test_vae_logs_only_its_terms():
    model = tiny_model("vae")
    model.compile()
    history = model.fit(tiny_images(8), batch_size=8, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "reconstruction", "kl"}


def test_encode_decode_reconstruct_sample_discriminate():
    model = tiny_model("ava3")
    images = tiny_images(5)
    mean, log_var = model.encode(images, batch_size=2)
    assert mean.shape == log_var.shape == (5, 3)
    np.testing.assert_allclose(model.decode(mean), model.reconstruct(images), atol=1e-6)
    samples = model.sample(6, seed=7)
    assert samples.shape == (6,) + IMAGE_SHAPE and 0 <= samples.min() and samples.max() <= 1
    np.testing.assert_array_equal(samples, model.sample(6, seed=7))
    assert not np.array_equal(samples, model.sample(6, seed=8))
    realism = model.discriminate(images)
    assert realism.shape == (5, 1) and np.all((realism > 0) & (realism < 1))


@pytest.mark.integration
def test_twenty_step_fit_on_real_digits_lowers_reconstruction_loss():
    from sklearn.datasets import load_digits

    images = (load_digits().images[:256, :, :, None] / 16.0).astype("float32")
    model = ak.AVA.from_preset("ava5", image_shape=(8, 8, 1), latent_dim=8, seed=0)
    model.compile()
    before = model.evaluate(images, batch_size=64, return_dict=True, verbose=0)["reconstruction"]
    model.fit(images, batch_size=32, epochs=20, steps_per_epoch=1, verbose=0)
    after = model.evaluate(images, batch_size=64, return_dict=True, verbose=0)["reconstruction"]
    assert after < 0.8 * before, (before, after)


class _TraceCountingAVA(ak.AVA):
    traces = 0

    def train_step(self, data):
        type(self).traces += 1  # Python side effect: runs only while tracing
        return super().train_step(data)


def _weights_changed(before, after, block):
    return any(not np.array_equal(a, b) for a, b in zip(before[block], after[block]))


@pytest.mark.parametrize("unit,schedule", [("epoch", {0: "vae", 1: "ava1"}), ("batch", {0: "vae", 2: "ava1"})])
def test_variant_schedule_switches_blocks_mid_fit_without_retracing(unit, schedule):
    base = tiny_model("ava5")
    model = _TraceCountingAVA.from_config(base.get_config())
    model.set_weights(base.get_weights())
    model.compile()
    snapshots = [block_weights(model)]
    recorder = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: snapshots.append(block_weights(model))
    )
    _TraceCountingAVA.traces = 0
    model.fit(
        tiny_images(8), batch_size=4, epochs=2, verbose=0,
        callbacks=[ak.callbacks.VariantSchedule(schedule, unit=unit), recorder],
    )
    assert _TraceCountingAVA.traces == 1
    changed = [
        _weights_changed(snapshots[i], snapshots[i + 1], "discriminator") for i in range(4)
    ]
    assert changed == [False, False, True, True]  # vae for two batches, then ava1
    assert not _weights_changed(snapshots[0], snapshots[-1], "latent_discriminator")
    assert all(_weights_changed(snapshots[i], snapshots[i + 1], "decoder") for i in range(4))
    assert model.preset == "ava1"


def _block_and_optimizer_state(model, block):
    """A block's weights and every variable of its optimizer (step count, Adam's moments)."""
    return [v.numpy().copy() for v in getattr(model, block).weights] + [
        v.numpy().copy() for v in getattr(model, f"{block}_optimizer").variables
    ]


def test_switched_off_block_gets_no_optimizer_step_under_adam():
    # After some AVA5 steps under Adam, a zero-gradient step would still move
    # a block by its momentum and count a step: a switched-off block must get
    # no optimizer step at all (docs/design_choices.md §7). One traced step
    # reads each new set of switches.
    model = tiny_model("ava5")
    model.compile()  # Adam for every block
    images = tiny_images(4)
    blocks = ("encoder", "decoder", "discriminator", "latent_discriminator")
    steps = dict.fromkeys(blocks, 2)
    for _ in range(2):
        model.train_on_batch(images)
    for variant, off in (
        ({"decoder_discriminator": False, "decoder_leaning": False}, {"discriminator"}),
        ("ava2", {"latent_discriminator"}),  # d back on, D off
        ("vae", {"discriminator", "latent_discriminator"}),
    ):
        model.set_variant(variant)
        before = {block: _block_and_optimizer_state(model, block) for block in blocks}
        model.train_on_batch(images)
        for block in blocks:
            after = _block_and_optimizer_state(model, block)
            unchanged = all(np.array_equal(a, b) for a, b in zip(before[block], after))
            assert unchanged == (block in off), f"{variant}: {block} {'moved' if block in off else 'did not move'}"
            steps[block] += block not in off
            assert int(getattr(model, f"{block}_optimizer").iterations.numpy()) == steps[block], (variant, block)


def test_switches_are_readable_and_settable():
    model = tiny_model("ava5")
    model.decoder_leaning = False
    model.encoder_leaning = False
    assert model.preset == "ava3"
    assert model.decoder_discriminator and not model.decoder_leaning
    model.set_variant("vae")
    assert not any(model.variant.values())
    assert model.discriminator is not None  # a switched-off block stays reachable


def test_one_forward_pass_per_step_is_shared_by_all_tapes():
    model = sgd_compile(tiny_model("ava5"))
    calls = {"encoder": 0, "decoder": 0, "discriminator": 0, "latent_discriminator": 0}
    for name in calls:
        layer = getattr(model, name)

        def counting_call(*args, _call=layer.call, _name=name, **kwargs):
            calls[_name] += 1  # counts calls while the step is traced
            return _call(*args, **kwargs)

        layer.call = counting_call
    model.train_on_batch(tiny_images())  # traces train_step once
    # x → f → g once; d on x and x′; f again only on x′ for D(μ(x′)); D on μ(x), μ(x′).
    assert calls == {"encoder": 2, "decoder": 1, "discriminator": 2, "latent_discriminator": 2}


def test_model_config_and_keras_file_round_trip(tmp_path):
    model = tiny_model("ava5", routing="paper", kl_weight=0.5, generator_loss="non_saturating")
    model.compile()
    images = tiny_images(8)
    model.fit(images, batch_size=4, epochs=1, verbose=0)
    model.set_variant("ava4")
    clone = ak.AVA.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.reconstruct(images), model.reconstruct(images))
    assert clone.get_config() == model.get_config()

    path = tmp_path / "ava.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, ak.AVA) and loaded.preset == "ava4"
    assert loaded.routing == "paper" and loaded.generator_loss == "non_saturating"
    np.testing.assert_array_equal(loaded.reconstruct(images), model.reconstruct(images))
    np.testing.assert_array_equal(loaded.discriminate(images), model.discriminate(images))
    assert int(loaded.encoder_optimizer.iterations) == 2


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: ak.AVA.from_preset("ava9", image_shape=(8, 8, 1)), "ava9.*vae, ava1, ava2, ava3, ava4, ava5"),
        (lambda: tiny_model("vae").set_variant("ava5"), "no discriminator"),
        (lambda: tiny_model("ava1").set_variant({"encoder_leaning": True}), "no latent_discriminator"),
        (lambda: tiny_model("ava1").set_variant({"decoder_lean": True}), "decoder_lean"),
        (lambda: tiny_model("vae", routing="sideways"), "routing='sideways'"),
        (lambda: tiny_model("vae", generator_loss="hinge"), "generator_loss='hinge'"),
        (lambda: tiny_model("vae", kl_weight=-1.0), "kl_weight=-1.0"),
        (lambda: tiny_model("vae").compile(optimizer="adam"), "one optimizer per block"),
        (lambda: ak.callbacks.VariantSchedule({0: "ava7"}), "ava7"),
        (lambda: tiny_model("vae").sample(0), "n=0"),
    ],
)
def test_misuse_raises_a_clear_value_error(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_data_of_the_wrong_shape_is_rejected_naming_both_shapes():
    model = tiny_model("ava1")
    model.compile()
    with pytest.raises(ValueError, match=r"\(batch, 8, 8, 1\).*\(None, 9, 8, 1\)"):
        model.fit(np.zeros((4, 9, 8, 1), "float32"), verbose=0)
    with pytest.raises(ValueError, match="image_shape"):
        model.reconstruct(np.zeros((2, 8, 8, 3), "float32"))


def test_fit_before_compile_is_rejected():
    with pytest.raises(ValueError, match="compile"):
        tiny_model("ava1").fit(tiny_images(4), verbose=0)


def test_importing_with_another_keras_backend_says_how_to_fix_it():
    env = dict(os.environ, KERAS_BACKEND="jax")
    result = subprocess.run(
        [sys.executable, "-c", "import ava_keras"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "KERAS_BACKEND=tensorflow" in result.stderr


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_decode_refuses_latents_of_the_wrong_shape_or_not_finite(bad):
    model = tiny_model()
    with pytest.raises(ak.errors.InputError, match=r"latent vectors of shape \(n, 3\), got \(2, 4\)"):
        model.decode(np.zeros((2, 4), "float32"))
    latents = np.zeros((2, 3), "float32")
    latents[1, 2] = bad
    with pytest.raises(ak.errors.InputError, match=r"1 non-finite value\(s\) \(NaN or inf\)"):
        model.decode(latents)
