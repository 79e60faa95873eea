"""Callback that writes the training history to a JSON file (and a loss plot) after every epoch."""

import json
import math
import sys

import keras


class HistoryFile(keras.callbacks.Callback):
    """Writes every finished epoch's logs to `path`, so an interrupted run keeps them.

    The file holds `{"epochs_completed", "interrupted", "arguments", "history"}`,
    `history` mapping each logged term to its values per epoch. With
    `plot_path`, each term is also plotted per epoch into that PNG
    (`plot_history`; needs matplotlib).

    Args:
        path: the JSON file.
        plot_path: the PNG file of the loss plot, or None for none.
        arguments: a JSON-ready dict stored with the history, e.g. the
            command line that started the run.
    """

    def __init__(self, path, plot_path=None, arguments=None):
        super().__init__()
        self.path = path
        self.plot_path = plot_path
        self.arguments = arguments
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.write(interrupted=False)

    def write(self, interrupted):
        """Writes the file (and the plot); `interrupted` records whether training stopped early."""
        record = {"epochs_completed": len(self.history.get("loss", [])), "interrupted": interrupted,
                  "arguments": self.arguments, "history": self.history}
        with open(self.path, "w", encoding="utf-8") as file:
            json.dump(record, file, indent=2)
        if self.history and self.plot_path:
            plot_history(self.history, self.plot_path)


def plot_history(history, path):
    """Plots each logged term (training, and validation if present) per epoch into a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("ava-keras: note: matplotlib is not installed; skipping the loss plot "
              "(pip install 'ava_keras[plots]')", file=sys.stderr)
        return None
    from matplotlib.ticker import MaxNLocator

    # One panel per term; each discriminator's outputs on real and generated inputs share one.
    shared = {"d_fake": "d_real", "latent_d_fake": "latent_d_real"}
    order = ["loss", "reconstruction", "kl", "decoder_adversarial", "encoder_adversarial"]
    names = [k for k in history if not k.startswith("val_")]
    panels = {}
    for name in sorted(names, key=lambda k: (order.index(k) if k in order else len(order), k)):
        panels.setdefault(shared.get(name, name), []).append(name)
    columns = min(4, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.4 * rows), squeeze=False)
    for axis, (title, members) in zip(axes.ravel(), panels.items()):
        for name in members:
            epochs = range(1, len(history[name]) + 1)
            axis.plot(epochs, history[name], marker=".", label=f"{name} (train)" if len(members) > 1 else "train")
            if f"val_{name}" in history:
                axis.plot(epochs, history[f"val_{name}"], marker=".", label=f"val_{name}")
        if len(axis.lines) > 1:
            axis.legend(fontsize=6)
        axis.set_title(" vs ".join(members), fontsize=9)
        axis.set_xlabel("epoch", fontsize=8)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.tick_params(labelsize=7)
    for axis in axes.ravel()[len(panels):]:
        axis.set_visible(False)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path

