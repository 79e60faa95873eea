"""Mixed precision: fit under mixed_float16 and mixed_bfloat16, loss scaling per block, `.keras` round trips."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import ava_keras as ak
from ava_keras import cli
from ava_keras.datasets import load_photos, write_image_folder
from tests._tiny import block_weights, tiny_images, tiny_model
from tests.test_distributed import _two_devices

pytestmark = pytest.mark.integration  # the full tier (README: Tests)

MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")
IMAGES = tiny_images(16)
BATCH_SIZE, EPOCHS = 4, 3


@pytest.fixture
def policy(request):
    """Sets the global dtype policy for one test, and always restores float32."""
    keras.config.set_dtype_policy(request.param)
    try:
        yield request.param
    finally:
        keras.config.set_dtype_policy("float32")


def _fit(preset="ava5"):
    keras.utils.set_random_seed(0)
    model = tiny_model(preset)
    model.compile()
    history = model.fit(IMAGES, batch_size=BATCH_SIZE, epochs=EPOCHS, shuffle=False, verbose=0)
    return model, history.history


@pytest.fixture(scope="module")
def float32_history():
    return _fit()[1]


@pytest.mark.parametrize("policy", MIXED_POLICIES, indirect=True)
def test_fit_under_mixed_policy_matches_float32_and_round_trips(policy, float32_history, tmp_path):
    model, history = _fit()
    compute_dtype = policy.removeprefix("mixed_")
    assert model.compute_dtype == compute_dtype and model.sampling.compute_dtype == compute_dtype
    assert model.encoder.mean_head.compute_dtype == compute_dtype
    assert {v.dtype for v in model.weights} == {"float32"}
    assert history.keys() == float32_history.keys()
    for key, values in history.items():
        assert np.isfinite(values).all(), key
        assert np.asarray(values).dtype == np.float64  # logged from float32 tensors
    # Same seeds and data: the final losses differ only by rounding in the compute dtype.
    for key in ("loss", "reconstruction", "kl", "discriminator_loss", "latent_discriminator_loss"):
        np.testing.assert_allclose(history[key][-1], float32_history[key][-1], rtol=0.02, atol=1e-3, err_msg=key)

    path = tmp_path / f"{policy}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.dtype_policy.name == policy and loaded.decoder.compute_dtype == compute_dtype
    images = IMAGES[:3]
    np.testing.assert_array_equal(loaded.reconstruct(images), model.reconstruct(images))
    for block in ("encoder", "decoder", "discriminator", "latent_discriminator"):
        saved, restored = (getattr(m, f"{block}_optimizer") for m in (model, loaded))
        assert type(restored) is type(saved)
        assert isinstance(saved, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16"), block
        assert len(restored.variables) == len(saved.variables)
        for a, b in zip(saved.variables, restored.variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{block} {a.path}")
    # Both continue identically: same weights, optimizer state and noise state.
    for m in (model, loaded):
        m.fit(IMAGES, batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0)
    for block, weights in block_weights(model).items():
        for a, b in zip(weights, block_weights(loaded)[block]):
            np.testing.assert_array_equal(a, b, err_msg=block)


@pytest.mark.parametrize("policy", ["mixed_float16"], indirect=True)
def test_each_block_has_its_own_loss_scale_and_skips_overflowing_steps(policy):
    model = tiny_model("ava5")
    model.compile()
    blocks = ("encoder", "decoder", "discriminator", "latent_discriminator")
    optimizers = [getattr(model, f"{block}_optimizer") for block in blocks]
    assert all(isinstance(o, keras.optimizers.LossScaleOptimizer) for o in optimizers)
    assert len({id(o) for o in optimizers}) == 4
    assert len({id(o.dynamic_scale) for o in optimizers}) == 4

    # A loss scale of 2**40 overflows float16 in the backward pass: train_step
    # must scale each objective, so the encoder and decoder (scaled together)
    # skip their step and halve the scale, while the discriminators step.
    model.encoder_optimizer.dynamic_scale.assign(2.0**40)
    model.decoder_optimizer.dynamic_scale.assign(2.0**40)
    before = block_weights(model)
    model.fit(IMAGES[:BATCH_SIZE], batch_size=BATCH_SIZE, epochs=1, verbose=0)
    after = block_weights(model)
    for block in ("encoder", "decoder"):
        assert getattr(model, f"{block}_optimizer").dynamic_scale.numpy() == 2.0**39, block
        for a, b in zip(before[block], after[block]):
            np.testing.assert_array_equal(a, b, err_msg=block)
    for block in ("discriminator", "latent_discriminator"):
        assert getattr(model, f"{block}_optimizer").dynamic_scale.numpy() == 2.0**15, block
        assert any(np.abs(a - b).max() > 0 for a, b in zip(before[block], after[block])), block


@pytest.mark.parametrize("policy", ["mixed_float16"], indirect=True)
def test_auto_scale_loss_false_keeps_plain_optimizers_through_keras_file(policy, tmp_path):
    model = tiny_model("vae")
    model.compile(auto_scale_loss=False)
    assert type(model.encoder_optimizer) is keras.optimizers.Adam
    model.save(tmp_path / "plain.keras")
    assert type(keras.models.load_model(tmp_path / "plain.keras").encoder_optimizer) is keras.optimizers.Adam


@pytest.mark.parametrize("policy", MIXED_POLICIES, indirect=True)
def test_mirrored_fit_under_mixed_policy(policy):
    strategy = tf.distribute.MirroredStrategy(_two_devices())
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = tiny_model("ava5")
        model.compile()
    history = model.fit(IMAGES, batch_size=2 * BATCH_SIZE, epochs=2, verbose=0).history
    for key, values in history.items():
        assert np.isfinite(values).all(), key
    scaled = policy == "mixed_float16"
    optimizer = model.decoder_optimizer
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == scaled
    steps, applied = 2 * len(IMAGES) // (2 * BATCH_SIZE), int(optimizer.iterations.numpy())
    if scaled:  # a step whose scaled gradients overflow is skipped and halves the scale
        assert 0 < applied <= steps
        assert optimizer.dynamic_scale.numpy() == 2.0**15 / 2 ** (steps - applied)
    else:
        assert applied == steps


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_cli_train_precision_flag(precision, tmp_path, capsys):
    """`--precision` builds the model with that policy (the global policy stays float32)."""
    write_image_folder(load_photos(image_size=(16, 16))[:12], tmp_path / "pictures")  # >= 10 mixture components
    out = tmp_path / "out"
    code = cli.main(["train", str(tmp_path / "pictures"), "--precision", precision, "--preset", "ava1",
                     "--epochs", "1", "--image-size", "16", "--latent-dim", "4", "--batch-size", "4",
                     "--samples", "4", "--out", str(out), "--verbose", "0"])
    assert code == 0, capsys.readouterr().err
    assert keras.config.dtype_policy().name == "float32"
    model = ak.saving.load_model(out / "model.keras", compile=True)
    assert model.dtype_policy.name == precision and model.sampling.dtype_policy.name == precision
    assert model.encoder.compute_dtype == precision.removeprefix("mixed_")
    assert isinstance(model.encoder_optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "mixed_float16")
    record = json.loads((out / "history.json").read_text())
    assert record["arguments"]["precision"] == precision and record["epochs_completed"] == 1
    for key, values in record["history"].items():
        assert np.isfinite(values).all(), key


def test_bench_precision_axis(tmp_path):
    # The quick bench without its class-conditional step and with 8 JPEGs: the precision axis is in the rows below.
    out = tmp_path / "bench"
    targets = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "targets.json")
    assert cli.main(["bench", "--quick", "--in-process", "--precisions", "float32", "mixed_bfloat16",
                     "--num-classes", "0", "--pipeline-images", "8", "--targets", targets, "--out", str(out)]) == 0
    summary = json.loads((out / "train_throughput.json").read_text())
    train = [r for r in summary["results"] if r["kind"] == "train"]
    assert [(r["preset"], r["precision"]) for r in train] == [
        ("vae", "float32"), ("vae", "mixed_bfloat16"), ("ava5", "float32"), ("ava5", "mixed_bfloat16")]
    for r in train:
        assert np.isfinite(r["step_seconds"]) and r["step_seconds"] > 0 and r["traces"] == 1
        float32 = next(f for f in train if f["preset"] == r["preset"] and f["precision"] == "float32")
        assert r["speedup_over_float32"] == pytest.approx(float32["step_seconds"] / r["step_seconds"])
    # The checks against the targets stay on the float32 rows.
    assert summary["checks"]["ava5 step / vae step at 16x16x1"]["measured"] == pytest.approx(train[2]["ratio_to_vae"])
    assert "| ava5 | 16x16x1 | graph | mixed_bfloat16 |" in (out / "train_throughput.md").read_text()
