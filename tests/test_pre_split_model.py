"""A model saved before `ava_keras/models/ava.py` was split into modules loads and behaves the same after it.

The fixture (tests/fixtures/make_pre_split_ava5.py) is a tiny trained AVA5 saved
with the single-module model, and what its public methods returned then.
"""

import os

import numpy as np

import ava_keras as ak
from tests.fixtures.make_pre_split_ava5 import MODEL_PATH, OUTPUTS_PATH, outputs


def test_a_model_saved_before_the_split_loads_and_gives_the_same_outputs():
    assert os.path.exists(MODEL_PATH)
    expected = np.load(OUTPUTS_PATH)
    model = ak.saving.load_model(MODEL_PATH)
    assert model.latent_sampler.is_fitted and model.anomaly_scorer.is_fitted
    got = outputs(model)
    assert sorted(got) == sorted(expected.files)
    for name in expected.files:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-6, err_msg=name)
