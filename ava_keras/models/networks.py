"""The encoder, decoder and discriminators of `AVA.from_preset`, for any image size.

Two families, and `"auto"` to choose between them by the image size
(`ava_keras.models.network_sizes.resolve_networks`: small up to 32 pixels a
side, scaled above):

- `"small"`: the networks the package has always built, sized for 28x28
  images: Conv32-Conv64-Dense128 encoder, Dense-ConvT64-ConvT32 decoder,
  Conv32-Conv64 discriminator, latent size 32, whatever the image size. The
  paper reproduction and the 28 px benchmarks use them.
- `"scaled"`: networks whose depth, widths and latent size follow the image
  (`network_sizes.scaled_levels`, `scaled_widths`, `scaled_latent_dim`): one stride-2
  level per halving down to a 4-7 pixel map, widths doubling per level from
  `BASE_WIDTH` up to `MAX_WIDTH`, group normalisation in the encoder and
  decoder, and a decoder that upsamples by resizing then convolving (no
  checkerboard patterns).

The decoder discriminator d is `"global"` (`Discriminator`, one logit per
image) or `"patch"` (`PatchDiscriminator`, one logit per patch; Isola et
al. 2017). Neither discriminator is normalised, except by the
`spectral_normalization` option.
"""

from ava_keras._validation import check_image_shape
from ava_keras.constants import DISCRIMINATORS, SMALL_NETWORKS
from ava_keras.errors import InputError
from ava_keras.layers import (
    ConvDecoder,
    ConvEncoder,
    Discriminator,
    LatentDiscriminator,
    PatchDiscriminator,
)
from ava_keras.models.network_sizes import resolve_networks, scaled_latent_dim, scaled_levels, scaled_widths

# The options `build_networks` (and so `AVA.from_preset`) takes for the networks.
NETWORK_OPTIONS = tuple(SMALL_NETWORKS) + ("spectral_normalization",)


def network_options(image_shape, networks="auto", **overrides):
    """The settings `build_networks` uses: the family's for `image_shape`, then `overrides` that are not None.

    Returns a dict with one entry per name of `NETWORK_OPTIONS` but
    `spectral_normalization`, plus `discriminator_filters` for the patch
    discriminator under `"patch_filters"`: the scaled family's patch
    discriminator stops one level short of the global one, so that each
    logit judges a patch rather than (nearly) the whole image.
    """
    unknown = sorted(set(overrides) - set(SMALL_NETWORKS))
    if unknown:
        raise InputError(f"Unknown network options {unknown}. Valid options: {', '.join(NETWORK_OPTIONS)}.")
    height, width, _ = check_image_shape(image_shape)
    if resolve_networks(networks, height, width) == "small":
        options = dict(SMALL_NETWORKS)
        options["patch_filters"] = options["discriminator_filters"]
    else:
        levels = scaled_levels(height, width)
        widths = scaled_widths(levels)
        options = {
            "latent_dim": scaled_latent_dim(height, width),
            "encoder_filters": widths,
            "decoder_filters": widths[::-1],
            "discriminator_filters": widths,
            "patch_filters": widths[: max(1, levels - 1)],
            "latent_discriminator_units": SMALL_NETWORKS["latent_discriminator_units"],
            "hidden_units": 0,
            "normalization": "group",
        }
    if overrides.get("discriminator_filters") is not None:
        options["patch_filters"] = overrides["discriminator_filters"]
    options.update({name: value for name, value in overrides.items() if value is not None})
    return options


def build_networks(
    image_shape,
    networks="auto",
    discriminator="global",
    with_discriminator=True,
    with_latent_discriminator=True,
    spectral_normalization=False,
    dtype=None,
    num_classes=None,
    **overrides,
):
    """Builds the encoder, decoder and discriminators of an `AVA` for `image_shape`.

    Args:
        image_shape: `(height, width, channels)`; any height and width.
        networks: `"auto"` (default: `"small"` up to 32 pixels a side,
            `"scaled"` above), `"small"` (the 28x28 networks, at every size)
            or `"scaled"` (depth, widths and latent size follow the image
            size).
        discriminator: `"global"` (one logit per image) or `"patch"` (one
            logit per patch).
        with_discriminator, with_latent_discriminator: Build d and D (else
            they are None).
        spectral_normalization: Spectrally normalised weights in d.
        dtype: The networks' dtype policy (the model's).
        num_classes: The classes of a class-conditional model: d becomes a
            projection discriminator over them (the other blocks take the
            label as extra inputs, `ava_keras.models.conditioning`).
        **overrides: Any of `latent_dim`, `encoder_filters`,
            `decoder_filters`, `discriminator_filters`,
            `latent_discriminator_units`, `hidden_units`, `normalization`;
            None keeps the family's choice (`network_options`).

    Returns:
        A dict with keys `encoder`, `decoder`, `discriminator`,
        `latent_discriminator`, the keyword arguments of `AVA`.

    Example:

    >>> blocks = build_networks((64, 64, 3), networks="scaled", discriminator="patch")
    >>> model = AVA(image_shape=(64, 64, 3), decoder_discriminator=True, **blocks)
    """
    if discriminator not in DISCRIMINATORS:
        raise InputError(
            f"`discriminator` must be one of {DISCRIMINATORS}. Received: discriminator={discriminator!r}"
        )
    image_shape = check_image_shape(image_shape)
    networks = resolve_networks(networks, *image_shape[:2])
    options = network_options(image_shape, networks, **overrides)
    upsampling = "transpose" if networks == "small" else "resize"
    encoder = ConvEncoder(
        options["latent_dim"],
        filters=options["encoder_filters"],
        hidden_units=options["hidden_units"],
        normalization=options["normalization"],
        name="encoder",
        dtype=dtype,
    )
    decoder = ConvDecoder(
        image_shape,
        filters=options["decoder_filters"],
        upsampling=upsampling,
        normalization=options["normalization"],
        name="decoder",
        dtype=dtype,
    )
    d = None
    if with_discriminator:
        d_class, filters = (
            (Discriminator, options["discriminator_filters"])
            if discriminator == "global"
            else (PatchDiscriminator, options["patch_filters"])
        )
        d = d_class(filters=filters, spectral_normalization=spectral_normalization, name="discriminator", dtype=dtype,
                    num_classes=num_classes)
    latent_d = (
        LatentDiscriminator(units=options["latent_discriminator_units"], name="latent_discriminator", dtype=dtype)
        if with_latent_discriminator
        else None
    )
    return {"encoder": encoder, "decoder": decoder, "discriminator": d, "latent_discriminator": latent_d}
