"""Joins the runs of docs/quality.md into one table and one sample image.

    python docs/quality_results/combine.py

The six presets were trained by two invocations of `ava-keras experiment
quality` with identical settings (labels `minimax`: VAE and AVA5, and
`ava1-4`: AVA1-AVA4). Training is deterministic per seed, so this equals one
run over all six presets; the table is `quality.format_table` of the joined
CSV rows, and the image lays out the panels of the two sample PNGs in preset
order.
"""

import csv
import json
import os

from PIL import Image

from ava_keras.experiments import quality
from ava_keras.experiments._common import PRESETS

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = ("minimax", "ava1-4")
PANEL = (320, 350)


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
    # Cut the panels (320x350 px each, 4 per row: `quality.plot_grids`) out of
    # both PNGs and lay them out again in preset order, held-out digits first.
    panels = {}
    for label in LABELS:
        image = Image.open(os.path.join(HERE, f"{label}_samples.png")).convert("RGB")
        names = ["held-out"] + [p for p in PRESETS if any(r["preset"] == p for r in _rows(label))]
        for i, name in enumerate(names):
            left, top = (i % 4) * PANEL[0], (i // 4) * PANEL[1]
            panels[name] = image.crop((left, top, left + PANEL[0], top + PANEL[1]))
    order = ["held-out"] + [p for p in PRESETS if p in panels]
    combined = Image.new("RGB", (4 * PANEL[0], -(-len(order) // 4) * PANEL[1]), "white")
    for i, name in enumerate(order):
        combined.paste(panels[name], ((i % 4) * PANEL[0], (i // 4) * PANEL[1]))
    combined.save(os.path.join(HERE, "quality_samples.png"))
    print(table)
