"""The six variants (docs/design_choices.md) as data: preset name -> switches + description."""

from ava_keras.constants import SWITCHES
from ava_keras.errors import InputError


def _switches(decoder_discriminator, decoder_leaning, encoder_discriminator, encoder_leaning):
    return dict(zip(SWITCHES, (decoder_discriminator, decoder_leaning, encoder_discriminator, encoder_leaning)))


PRESETS = {
    "vae": {
        "switches": _switches(False, False, False, False),
        "description": "Plain VAE (eq. 1): no discriminator.",
    },
    "ava1": {
        "switches": _switches(True, False, False, False),
        "description": "AVA1: decoder discriminator d supervises the decoder (eqs. 3-7).",
    },
    "ava2": {
        "switches": _switches(True, True, False, False),
        "description": "AVA2: AVA1 plus decoder leaning in d's update (eqs. 9-10).",
    },
    "ava3": {
        "switches": _switches(True, False, True, False),
        "description": "AVA3: AVA1 plus encoder discriminator D on mean vectors (eqs. 11-14).",
    },
    "ava4": {
        "switches": _switches(True, False, True, True),
        "description": "AVA4: AVA3 plus encoder leaning in D's update (eqs. 15-16).",
    },
    "ava5": {
        "switches": _switches(True, True, True, True),
        "description": "AVA5: both discriminators and both leaning terms.",
    },
}


def get_switches(preset):
    """Returns a copy of the switches of `preset`, or raises a ValueError listing the presets."""
    if preset not in PRESETS:
        raise InputError(
            f"Unknown preset {preset!r}. Valid presets: {', '.join(PRESETS)}."
        )
    return dict(PRESETS[preset]["switches"])

# The paper's exact settings: eq. 1's ½‖x − x′‖² (σ = 1), the paper's update
# rules (the encoder never sees the reconstruction error), the minimax
# generator terms and unit weights. `AVA.from_preset(p, ..., **PAPER_SETTINGS)`;
# the paper reproduction (`ava-keras experiment paper`) uses them.
PAPER_SETTINGS = {
    "routing": "paper",
    "likelihood": "paper",
    "generator_loss": "minimax",
    "reconstruction_weight": 1.0,
    "kl_weight": 1.0,
    "adversarial_weight": 1.0,
    "leaning_weight": 1.0,
}
