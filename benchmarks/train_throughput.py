"""Training throughput benchmark: the same as `ava-keras bench`.

    python benchmarks/train_throughput.py --out docs/performance   # the full run of docs/performance.md
    python benchmarks/train_throughput.py --quick --out /tmp/bench  # a smoke run

See `ava_keras/benchmarks/train_throughput.py` (jobs), `measure.py` and `report.py` for what is measured and how.
"""

import argparse
import sys

from ava_keras.benchmarks import train_throughput

if __name__ == "__main__":
    parser = train_throughput.add_arguments(argparse.ArgumentParser(description=train_throughput.__doc__))
    sys.exit(train_throughput.run(parser.parse_args()))
