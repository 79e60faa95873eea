"""Plots the radially averaged power spectra a quality run saved (docs/quality.md).

`ava-keras experiment quality` keeps, in `<label>_summary.json`, the
spectrum of the held-out images and of each model's first-seed samples
(ava_keras.evaluation.radial_power_spectrum, Durall et al. 2020). This
draws them on a log scale, one curve per model, with half the Nyquist
frequency marked: the high-frequency ratio of the table is the energy to
the right of that line, relative to the held-out images'.

    python benchmarks/spectra_plot.py quality_results/quality_summary.json --out spectra.png

Needs matplotlib (pip install 'ava_keras[plots]').
"""

import argparse
import json
import sys

from ava_keras.errors import InputError, import_optional
from ava_keras.evaluation.spectrum import HALF_NYQUIST


def plot_spectra(summaries, out, title=None):
    """Draws every spectrum of the `summaries` (paths of `<label>_summary.json`) into the PNG `out`.

    The held-out images' curve is drawn once, from the first summary; the
    models' curves are labelled `<label>: <model>` when there is more than one
    summary.
    """
    matplotlib = import_optional("matplotlib", "plot_spectra()")
    matplotlib.use("Agg")
    plt = import_optional("matplotlib.pyplot", "plot_spectra()")
    figure, axis = plt.subplots(figsize=(6, 4))
    for index, path in enumerate(summaries):
        with open(path, encoding="utf-8") as file:
            spectra = json.load(file).get("spectra")
        if not spectra:
            raise InputError(f"{path} has no spectra: it was written before the quality run saved them; rerun it.")
        label = path.rsplit("/", 1)[-1].removesuffix("_summary.json")
        for name, power in spectra["power"].items():
            real = name == "held-out images"
            if real and index > 0:
                continue
            axis.semilogy(
                spectra["frequencies"], power, color="black" if real else None, linewidth=2 if real else 1,
                label=name if real or len(summaries) == 1 else f"{label}: {name}",
            )
    axis.axvline(HALF_NYQUIST, color="gray", linestyle=":", label="half Nyquist")
    axis.set_xlabel("spatial frequency (cycles per pixel)")
    axis.set_ylabel("mean power")
    if title:
        axis.set_title(title)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("summaries", nargs="+", help="<label>_summary.json files of quality runs")
    parser.add_argument("--out", default="spectra.png", help="PNG to write (default spectra.png)")
    parser.add_argument("--title", default=None, help="title of the plot (default none)")
    args = parser.parse_args(argv)
    print(plot_spectra(args.summaries, args.out, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
