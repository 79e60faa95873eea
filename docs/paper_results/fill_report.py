"""Writes docs/paper_reproduction.md from report_template.md and the files beside it.

    python docs/paper_results/fill_report.py

`{{tables:<label>}}` is replaced by <label>_tables.md, and
`{{json:<label>:<dotted.key>}}` by a value of <label>_summary.json, so every
number in the report is read from the outputs of `ava-keras experiment paper`.
"""

import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))


def _tables(match):
    with open(os.path.join(HERE, f"{match.group(1)}_tables.md")) as file:
        return file.read().strip()


def _value(match):
    with open(os.path.join(HERE, f"{match.group(1)}_summary.json")) as file:
        data = json.load(file)
    for key in match.group(2).split("."):
        data = data[key]
    if isinstance(data, float):
        return f"{data:.0f}" if match.group(2).endswith("seconds") else f"{data:.4f}"
    return str(data)


OUTPUT = os.path.join(HERE, os.pardir, "paper_reproduction.md")


def render():
    """The report's text: the template with its placeholders filled."""
    with open(os.path.join(HERE, "report_template.md")) as file:
        text = file.read()
    text = re.sub(r"\{\{tables:([\w.]+)\}\}", _tables, text)
    return re.sub(r"\{\{json:([\w.]+):([\w.]+)\}\}", _value, text)


if __name__ == "__main__":
    with open(OUTPUT, "w") as file:
        file.write(render())
