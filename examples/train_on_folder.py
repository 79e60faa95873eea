"""
Title: Train an AVA on a folder of images
Description: From a folder of image files to a trained model, per-epoch
pictures and a SavedModel, in Python (the `ava-keras train DIR` command does
the same in one line).

The folder here is written from scikit-learn's bundled handwritten digits, so
the script runs anywhere without downloads; point `FOLDER` at your own photos
instead. `ava_keras.data.image_folder` decodes every file once with Pillow
before training, skips (and names) unreadable files, converts any image mode to
the requested channels and resizes.
"""

import os
import tempfile
import time

import keras

import ava_keras as ak

## Settings

WORK = tempfile.mkdtemp(prefix="ava_keras_example_")
FOLDER = os.path.join(WORK, "digits")
IMAGE_SIZE = 16
EPOCHS = 3
BATCH_SIZE = 64

## A folder of images
# 1,797 digit images written as PNG files. Add a broken file, as real folders
# often have one: it is skipped with a warning that names it.

ak.datasets.write_image_folder(ak.datasets.load_digits(), FOLDER)
with open(os.path.join(FOLDER, "broken.png"), "wb") as file:
    file.write(b"\x89PNG\r\n\x1a\n truncated")

## The input pipeline
# `validation_split` holds out 10% of the files; `resize="stretch"` because the
# digits are square anyway ("crop" and "pad" keep the aspect ratio of photos).

train, validation = ak.data.image_folder(
    FOLDER,
    image_size=IMAGE_SIZE,
    batch_size=BATCH_SIZE,
    channels=1,
    validation_split=0.1,
    seed=0,
    resize="stretch",
)
print(f"{len(train.file_paths)} training and {len(validation.file_paths)} validation images;")
print(f"skipped: {[os.path.basename(path) for path, _ in train.skipped_files]}")

## Is the pipeline fast enough?
# Compare how fast it delivers images with how fast the model trains on them
# (timed per step, as `ava-keras bench` does: whole `fit` calls include tear-down; docs/performance.md).

print(f"pipeline: {ak.data.images_per_second(train):,.0f} images/s")


class StepTimer(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if batch > 0:  # the first step includes tracing
            self.seconds = getattr(self, "seconds", 0.0) + time.perf_counter() - self.start
            self.steps = getattr(self, "steps", 0) + 1


## The model
# AVA5: both discriminators and both leaning terms (paper eqs. 3-16).

model = ak.AVA.from_preset("ava5", image_shape=(IMAGE_SIZE, IMAGE_SIZE, 1), latent_dim=8, seed=0)
model.compile()

## Training, with a picture after every epoch
# `SampleGrid` writes originals, their reconstructions and samples from fixed
# latent draws to `grids/epoch_NNN.png`.

reference = next(iter(validation))[:8].numpy()
timer = StepTimer()
grids = ak.callbacks.SampleGrid(os.path.join(WORK, "grids"), images=reference, num_samples=16)
history = model.fit(train, validation_data=validation, epochs=EPOCHS, callbacks=[grids, timer], verbose=2)
print(f"training: {timer.steps * BATCH_SIZE / timer.seconds:,.0f} images/s")

## Save, export, reload

model.save(os.path.join(WORK, "model.keras"))
ak.export_saved_model(model, os.path.join(WORK, "saved_model"))
reloaded = ak.saving.load_model(os.path.join(WORK, "model.keras"))
print(f"validation reconstruction error: {history.history['val_reconstruction'][-1]:.2f}")
print(f"outputs in {WORK}: {sorted(os.listdir(WORK))}; last grid: {grids.paths[-1]}")
