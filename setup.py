"""Packaging for ava_keras: Adversarial Variational Autoencoders in Keras 3."""

import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "ava_keras" / "version.py").read_text()
).group(1)

DATASET_EXTRAS = ["scikit-learn>=1.3", "scikit-image>=0.22"]
PLOT_EXTRAS = ["matplotlib>=3.7"]
TENSORBOARD_EXTRAS = ["tensorboard>=2.16"]
DOCS_EXTRAS = ["pdoc>=14"]
LITERT_EXTRAS = ["ai-edge-litert>=1.2"]  # LiteRT's interpreter for the exported .tflite files
# pytest 9.2's structured node ids stop pytest-xdist 3.8's `--dist loadgroup` from grouping
# (pytest-xdist issue 1386): every test process would repeat the suite's shared runs.
TEST_EXTRAS = ["pytest>=7,<9.2", "pytest-xdist>=3"]

setup(
    name="ava_keras",
    version=VERSION,
    description="Adversarial Variational Autoencoders (AVA1-AVA5) for Keras 3 / TensorFlow",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["ava_keras", "ava_keras.*"]),
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.0",
        "numpy>=1.23",
        "pillow>=9.0",
    ],
    extras_require={
        "datasets": DATASET_EXTRAS,
        "plots": PLOT_EXTRAS,
        "tensorboard": TENSORBOARD_EXTRAS,
        "litert": LITERT_EXTRAS,
        "docs": DOCS_EXTRAS,
        "all": DATASET_EXTRAS + PLOT_EXTRAS + TENSORBOARD_EXTRAS + LITERT_EXTRAS,
        "test": DATASET_EXTRAS + PLOT_EXTRAS + TENSORBOARD_EXTRAS + LITERT_EXTRAS + DOCS_EXTRAS
        + TEST_EXTRAS,
    },
    entry_points={"console_scripts": ["ava-keras=ava_keras.cli:main"]},
    license="Apache-2.0",
    license_files=["LICENSE"],
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
