"""Two local workers run `ava-keras train DIR --strategy multiworker` on a 15-file folder.

    python benchmarks/two_worker_folder_check.py --out docs/performance/two_worker_folder_check.json

Records, per worker, how many files it decoded (its shard) and the steps of
each epoch, at global batch 4: with disjoint shards of 8 and 7 files, each
worker takes 2 images per step, so an epoch that covers every shard has
4 steps.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from _report import write_result
from PIL import Image

from ava_keras.distribute import local_cluster

FILES = 15
BATCH_SIZE = 4


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="two_workers_")
    folder = os.path.join(root, "pictures")
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    for i in range(FILES):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(os.path.join(folder, f"{i:02d}.png"))
    cluster = local_cluster(2)
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        argv = [sys.executable, "-m", "ava_keras.cli", "train", folder, "--strategy", "multiworker",
                "--epochs", str(args.epochs), "--batch-size", str(BATCH_SIZE), "--image-size", "16",
                "--latent-dim", "4", "--samples", "0", "--verbose", "2", "--out", os.path.join(root, "out"),
                "--strategy-timeout", "300"]
        log = open(os.path.join(root, f"worker-{index}.log"), "w")
        processes.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))
    workers = []
    for index, process in enumerate(processes):
        code = process.wait(timeout=1800)
        text = open(os.path.join(root, f"worker-{index}.log")).read()
        decoded = re.search(r"Decoding images: (\d+) file", text)
        workers.append({"index": index, "exit_code": code, "files_decoded": int(decoded.group(1)) if decoded else None,
                        "steps_per_epoch": [int(n) for n in re.findall(r"^(\d+)/\1 - .*/step", text, re.MULTILINE)]})
    result = {"command": "python benchmarks/two_worker_folder_check.py" + (f" --out {args.out}" if args.out else ""),
              "files": FILES, "global_batch_size": BATCH_SIZE, "epochs": args.epochs, "workers": workers}
    write_result(result, args.out)
    return 0 if all(w["exit_code"] == 0 for w in workers) else 1


if __name__ == "__main__":
    sys.exit(main())
