"""Shared ending of the benchmark scripts of docs/performance.md: print the result, and write it to --out."""

import json


def write_result(result, out=None):
    """Prints `result` as JSON and, when `out` is given, writes it there; returns 0 (the exit status)."""
    print(json.dumps(result, indent=1))
    if out:
        with open(out, "w") as file:
            json.dump(result, file, indent=1)
    return 0
