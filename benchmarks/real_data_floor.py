"""How low can the quality benchmark's FID go? Real training images scored as if they were samples.

    python benchmarks/real_data_floor.py --draws 20 --out docs/quality_results/real_data_floor.json

`ava-keras experiment quality` reports one "real training images" row: the
first n training images (n = the held-out count) scored against the held-out
images, the FID a perfect generator would get at this sample size. This
script draws `--draws` random n-subsets of the same training images (seeded,
without replacement within a draw) and scores each with the benchmark's own
`Scorer`, so the floor gets a spread: mean, SD, min and max per dataset.

A model can only beat another by more than 2 seed SDs if the other's mean
minus 2 SDs is above this floor: docs/quality.md uses it to say where that
target cannot be met.
"""

import argparse
import json
import statistics

import numpy as np

from ava_keras.experiments.quality import DATASETS, Scorer, load_data

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--draws", type=int, default=20, help="random subsets per dataset (default 20)")
parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
parser.add_argument("--seed", type=int, default=0, help="seed of the subset draws (default 0)")
parser.add_argument("--out", required=True, help="JSON file to write")
args = parser.parse_args()

result = {"command": f"python benchmarks/real_data_floor.py --draws {args.draws} --datasets {' '.join(args.datasets)} "
                     f"--seed {args.seed} --out {args.out}"}
for dataset in args.datasets:
    train, held_out = load_data(dataset)
    scorer = Scorer(dataset, held_out)
    rng = np.random.default_rng(args.seed)
    n = len(held_out)
    fids = [scorer.fid(train[rng.choice(len(train), n, replace=False)]) for _ in range(args.draws)]
    result[dataset] = {
        "training_images": len(train),
        "held_out_images": n,
        "fid_first_n": scorer.fid(train[:n]),
        "fid_random_n": {"mean": statistics.mean(fids), "sd": statistics.stdev(fids), "min": min(fids),
                         "max": max(fids), "draws": fids},
    }
    print(dataset, json.dumps({k: v for k, v in result[dataset]["fid_random_n"].items() if k != "draws"}),
          f"first {n}: {result[dataset]['fid_first_n']:.3f}", flush=True)
with open(args.out, "w") as file:
    json.dump(result, file, indent=2)
