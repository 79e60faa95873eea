"""Reproduce the paper's experiment: VAE vs AVA1-AVA5, 19 learning rates, eq. 17.

Nguyen (2023) trains a VAE and five AVA variants with plain SGD at 19
learning rates on ten 180x250 images shrunk 3x, and scores each trained model
by eq. 17 (Tables 1-3, Figure 5). This script runs the same sweep as
`ava-keras experiment paper` and takes the same options, e.g.

    python examples/paper_experiment.py --quick --out /tmp/paper_quick
    python examples/paper_experiment.py --routing both --out docs/paper_results

See docs/paper_reproduction.md for the measured tables and what they show.
"""

import argparse
import sys

from ava_keras.experiments import paper

## The data and the metric
# `ak.datasets.ten_images(shrink=3)` gives ten 83x60 RGB photographs, and
# `ak.evaluation.paper_rmse(best, images)` is eq. 17; "imageBest" is the
# model's reconstruction with the lowest score (`best_generated_image`).

## The sweep
# `paper.run` trains every (model, learning rate, seed), writes a CSV of all
# runs, Tables 1-3 beside the paper's values, a JSON summary and a bar chart.

if __name__ == "__main__":
    parser = paper.add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    sys.exit(paper.run(parser.parse_args()))
