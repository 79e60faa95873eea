"""Joins the runs of docs/quality.md into one table and one sample image.

    python docs/quality_results/combine.py

The six presets were trained by two invocations of `ava-keras experiment
quality` with identical settings (labels `minimax`: VAE and AVA5, and
`ava1-4`: AVA1-AVA4). Training is deterministic per seed, so this equals one
run over all six presets; the table is `quality.format_table` of the joined
CSV rows, and the image stacks the two sample PNGs.
"""

import csv
import json
import os

from PIL import Image

from ava_keras.experiments import quality

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = ("minimax", "ava1-4")


def _rows(label):
    with open(os.path.join(HERE, f"{label}_runs.csv")) as file:
        return list(csv.DictReader(file))


if __name__ == "__main__":
    rows = [row for label in LABELS for row in _rows(label)]
    with open(os.path.join(HERE, "minimax_summary.json")) as file:
        first = json.load(file)
    table = quality.format_table(quality.summarize(rows), first["references"], first["config"])
    with open(os.path.join(HERE, "quality_table.md"), "w") as file:
        file.write(table)
    images = [Image.open(os.path.join(HERE, f"{label}_samples.png")).convert("RGB") for label in LABELS]
    combined = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images)), "white")
    top = 0
    for image in images:
        combined.paste(image, (0, top))
        top += image.height
    combined.save(os.path.join(HERE, "quality_samples.png"))
    print(table)
