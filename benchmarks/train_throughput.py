"""Training throughput benchmark: `ava-keras bench` checked against this project's targets.

    python benchmarks/train_throughput.py --out docs/performance   # the full run of docs/performance.md
    python benchmarks/train_throughput.py --quick --out /tmp/bench  # a smoke run

The targets (docs/performance.md) are in `targets.json` beside this script;
`--targets` picks another file. See `ava_keras/benchmarks/train_throughput.py`
(jobs), `measure.py` and `report.py` for what is measured and how.
"""

import argparse
import os
import sys

from ava_keras.benchmarks import train_throughput

if __name__ == "__main__":
    parser = train_throughput.add_arguments(argparse.ArgumentParser(description=train_throughput.__doc__))
    parser.set_defaults(targets=os.path.join(os.path.dirname(os.path.abspath(__file__)), "targets.json"))
    sys.exit(train_throughput.run(parser.parse_args()))
