"""A small digit classifier trained once on the bundled digits, and "classifier FID/KID" on its features.

FID proper uses Inception-v3 features of 299x299 RGB images, which would
need a download and says little about 28x28 digits. Here the features are
the penultimate activations of a small CNN that ava_keras trains on the
labelled scikit-learn digits (a few seconds on CPU), caches and reuses. The
resulting "classifier FID" and "classifier KID" rank models on digits; their
values are NOT comparable with Inception FID/KID values from papers or other
libraries, nor between different classifier versions or seeds.
"""

import json
import os
import time
import zipfile

import numpy as np

from ava_keras._validation import check_images, check_positive_int
from ava_keras.errors import InputError
from ava_keras.evaluation.distribution_metrics import frechet_distance, kernel_distance, precision_recall

IMAGE_SIZE = 28
HELD_OUT = 397  # digits kept out of classifier (and quality-experiment) training; 1,400 remain
SPLIT_SEED = 0
FEATURE_DIM = 64
EPOCHS = 8
BATCH_SIZE = 128
LEARNING_RATE = 3e-3
STEPS_PER_EXECUTION = 11  # one epoch per call into the graph: less Python overhead
CACHE_ENV = "AVA_KERAS_CACHE"
_VERSION = 1  # bump when the architecture, data or training change: old caches are then ignored
_LOADED = {}


def default_cache_dir():
    """`$AVA_KERAS_CACHE` if set, else `$XDG_CACHE_HOME/ava_keras` or `~/.cache/ava_keras`."""
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ava_keras")


def digits_split(image_size=IMAGE_SIZE):
    """The fixed train/held-out split of `ava_keras.datasets.load_digits`.

    A permutation with seed `SPLIT_SEED` (0) of the 1,797 digits; the last
    `HELD_OUT` (397) are held out, the first 1,400 are for training. The
    classifier and the quality experiment use the same split.

    Args:
        image_size: Side of the (bicubic-upscaled) images, default 28.

    Returns:
        `(train_images, train_labels, held_out_images, held_out_labels)`,
        images float32 `(n, image_size, image_size, 1)` in [0, 1].
    """
    from ava_keras.datasets import load_digits

    images, labels = load_digits(image_size=image_size, return_labels=True)
    images = np.clip(images, 0.0, 1.0)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    train, held_out = order[:-HELD_OUT], order[-HELD_OUT:]
    return images[train], labels[train], images[held_out], labels[held_out]


def _build_network(seed):
    import keras

    def init(offset):
        return keras.initializers.GlorotUniform(seed=seed * 10 + offset)

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="image")
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", kernel_initializer=init(0))(inputs)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", kernel_initializer=init(1))(x)
    x = keras.layers.Flatten()(x)
    features = keras.layers.Dense(FEATURE_DIM, activation="relu", kernel_initializer=init(2), name="features")(x)
    logits = keras.layers.Dense(10, kernel_initializer=init(3), name="logits")(features)
    return keras.Model(inputs, [features, logits], name="digit_classifier")


class DigitClassifier:
    """A small CNN digit classifier whose penultimate layer gives "classifier FID" features.

    On first use it is trained on the 1,400 training digits of `digits_split`
    (28x28x1, two stride-2 convolutions, a 64-unit ReLU layer, 10 logits;
    Adam(3e-3), batch 128, 8 epochs, seeded initializers and shuffling, so
    the same seed gives the same network), its weights are saved to
    `<cache_dir>/digit_classifier_v1_seed<seed>.npz` with a JSON of its
    held-out accuracy, and later instances load them. Nothing is downloaded.

    Args:
        seed: Seed of the initial weights and of the shuffling.
        cache_dir: Folder of the cached weights; default `default_cache_dir()`
            (`$AVA_KERAS_CACHE`, else `~/.cache/ava_keras`).
        retrain: Train (and overwrite the cache) even if weights are cached.

    Attributes:
        held_out_accuracy: Accuracy on the 397 held-out digits.
        from_cache: Whether the weights were loaded rather than trained.
        path: The cached weights file.

    Example:

    >>> classifier = DigitClassifier()
    >>> classifier.features(images).shape  # images: (n, 28, 28, 1) in [0, 1]
    (n, 64)
    """

    def __init__(self, seed=0, cache_dir=None, retrain=False):
        check_positive_int("seed", seed, allow_zero=True)
        self.seed = int(seed)
        self.cache_dir = os.path.abspath(cache_dir or default_cache_dir())
        if os.path.exists(self.cache_dir) and not os.path.isdir(self.cache_dir):
            raise InputError(f"`cache_dir` must be a folder. Received: cache_dir={self.cache_dir!r}, a file")
        stem = os.path.join(self.cache_dir, f"digit_classifier_v{_VERSION}_seed{self.seed}")
        self.path, self._info_path = stem + ".npz", stem + ".json"
        self.network = _build_network(self.seed)
        self.from_cache = not retrain and self._load()
        if not self.from_cache:
            self._train()

    def _load(self):
        try:
            with np.load(self.path) as stored:
                weights = [stored[f"w{i}"] for i in range(len(stored.files))]
            with open(self._info_path) as file:
                info = json.load(file)
            self.network.set_weights(weights)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return False  # missing, truncated or from another architecture: retrain
        self.held_out_accuracy = float(info["held_out_accuracy"])
        return True

    def _train(self):
        import keras

        train_x, train_y, test_x, test_y = digits_split()
        rng = np.random.default_rng(self.seed)
        order = np.concatenate([rng.permutation(len(train_x)) for _ in range(EPOCHS)])
        model = keras.Model(self.network.input, self.network.outputs[1])
        model.compile(
            optimizer=keras.optimizers.Adam(LEARNING_RATE),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            steps_per_execution=STEPS_PER_EXECUTION,
        )
        start = time.time()
        model.fit(train_x[order], train_y[order], batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0)
        self.held_out_accuracy = self.accuracy(test_x, test_y)
        os.makedirs(self.cache_dir, exist_ok=True)
        partial = self.path + f".{os.getpid()}.tmp.npz"
        np.savez(partial, **{f"w{i}": w for i, w in enumerate(self.network.get_weights())})
        info = {
            "version": _VERSION,
            "seed": self.seed,
            "held_out_accuracy": self.held_out_accuracy,
            "train_seconds": round(time.time() - start, 2),
            "data": f"ava_keras.evaluation.digits_split(): {len(train_x)} training, {len(test_x)} held-out digits",
        }
        os.replace(partial, self.path)  # each file appears complete or not at all
        with open(self._info_path + f".{os.getpid()}.tmp", "w") as file:
            json.dump(info, file, indent=2)
        os.replace(file.name, self._info_path)

    def _run(self, images, batch_size, output):
        images = check_images("images", images)
        batch_size = check_positive_int("batch_size", batch_size)
        if images.shape[-1] == 3:
            images = images.mean(axis=-1, keepdims=True)
        elif images.shape[-1] != 1:
            raise InputError(f"`images` must have 1 or 3 channels. Received: shape {images.shape}")
        images = images.astype("float32")
        if images.shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE):
            import keras

            images = keras.ops.convert_to_numpy(
                keras.ops.image.resize(images, (IMAGE_SIZE, IMAGE_SIZE), interpolation="bilinear")
            )
        outputs = [
            self.network(images[i : i + batch_size], training=False)[output]
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate([np.asarray(o) for o in outputs]).astype("float64")

    def features(self, images, batch_size=256):
        """Penultimate-layer activations `(n, 64)` of images `(n, h, w, 1 or 3)` in [0, 1].

        Images of another size are resized (bilinear) to 28x28; RGB images are
        averaged to one channel.
        """
        return self._run(images, batch_size, 0)

    def predict(self, images, batch_size=256):
        """Predicted digit labels, int array `(n,)`."""
        return np.argmax(self._run(images, batch_size, 1), axis=1)

    def confidence(self, images, batch_size=256):
        """Mean top-class probability on `images`: near 1 when each looks clearly like one digit."""
        logits = self._run(images, batch_size, 1)
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        return float(np.mean(np.max(probabilities, axis=1) / probabilities.sum(axis=1)))

    def accuracy(self, images, labels):
        """Fraction of `images` whose predicted digit equals `labels`."""
        labels = np.asarray(labels)
        if labels.shape != (len(images),):
            raise InputError(
                f"`labels` must have shape ({len(images)},), one per image. Received: shape {labels.shape}"
            )
        return float(np.mean(self.predict(images) == labels))


def get_classifier(classifier=None, cache_dir=None, seed=0):
    """`classifier` if given, else the `DigitClassifier` for `(cache_dir, seed)`, loaded once per process."""
    if classifier is not None:
        return classifier
    key = (os.path.abspath(cache_dir or default_cache_dir()), seed)
    if key not in _LOADED:
        _LOADED[key] = DigitClassifier(seed=seed, cache_dir=key[0])
    return _LOADED[key]


def classifier_features(images, classifier=None, cache_dir=None):
    """`DigitClassifier` features `(n, 64)` of images `(n, h, w, c)` in [0, 1].

    Args:
        images: Images in [0, 1], 1 or 3 channels (resized to 28x28 if needed).
        classifier: A `DigitClassifier`; default the cached one (trained on first use).
        cache_dir: Cache folder of the default classifier.
    """
    return get_classifier(classifier, cache_dir).features(images)


def classifier_fid(real_images, generated_images, classifier=None, cache_dir=None):
    """"Classifier FID": `frechet_distance` of `DigitClassifier` features.

    Same formula as FID, but in the 64-dimensional feature space of the
    bundled digit classifier, not Inception-v3: its values are not comparable
    with published FIDs. Biased upwards for small sets: compare models at
    equal sample sizes.

    Args:
        real_images: `(n, h, w, c)` images in [0, 1], e.g. held-out digits.
        generated_images: `(m, h, w, c)` images in [0, 1], e.g. `model.sample(m)`.
        classifier: A `DigitClassifier`; default the cached one.
        cache_dir: Cache folder of the default classifier.

    Returns:
        A non-negative Python float; lower is better.
    """
    classifier = get_classifier(classifier, cache_dir)
    return frechet_distance(classifier.features(real_images), classifier.features(generated_images))


def classifier_kid(real_images, generated_images, classifier=None, cache_dir=None, **kwargs):
    """"Classifier KID": `kernel_distance` of `DigitClassifier` features (not Inception KID).

    Other keyword arguments (`num_subsets`, `subset_size`, `seed`,
    `return_std`) go to `kernel_distance`. Lower is better; ≈ 0 for sets
    from the same distribution.
    """
    classifier = get_classifier(classifier, cache_dir)
    return kernel_distance(classifier.features(real_images), classifier.features(generated_images), **kwargs)


def classifier_precision_recall(real_images, generated_images, classifier=None, cache_dir=None, k=3):
    """`precision_recall` (k-NN manifolds) of `DigitClassifier` features; returns `(precision, recall)`."""
    classifier = get_classifier(classifier, cache_dir)
    return precision_recall(classifier.features(real_images), classifier.features(generated_images), k=k)
