"""One worker of the multi-worker tests (tests/test_distributed.py).

Reads TF_CONFIG, trains a tiny AVA under MultiWorkerMirroredStrategy with
BackupAndRestore, then the chief saves the model (other workers save to a
temporary folder). Every worker writes its final weights and the epochs it ran
to REPORT/<task>-<index>.npz. With --pause-after-step N the worker stops after
its N-th step and waits to be killed (it first writes REPORT/<task>-<index>.paused).

    TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:P0", "127.0.0.1:P1"]},
                "task": {"type": "worker", "index": 0}}' \
    python -m tests._worker --out OUT --backup BACKUP --report REPORT
"""

import argparse
import faulthandler
import json
import os
import signal
import sys
import time

_T0 = time.time()

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import ava_keras as ak  # noqa: E402
from tests._tiny import block_weights, sgd_compile, tiny_images, tiny_model  # noqa: E402

GLOBAL_BATCH, STEPS_PER_EPOCH = 8, 2


class _Report(keras.callbacks.Callback):
    """Records the epochs this process runs; optionally stops after a step to be killed."""

    def __init__(self, name, report, pause_after_step):
        super().__init__()
        self.name, self.report, self.pause_after_step = name, report, pause_after_step
        self.epochs, self.steps = [], 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == self.pause_after_step:
            open(os.path.join(self.report, f"{self.name}.paused"), "w").close()
            time.sleep(3600)


def _log(what):
    print(f"{what} {time.time() - _T0:.1f} s", file=sys.stderr, flush=True)


def main(argv=None):
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test dumps the stacks of a hung worker
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="the chief writes model.keras here")
    parser.add_argument("--backup", required=True, help="BackupAndRestore folder (one per worker under it)")
    parser.add_argument("--report", required=True, help="every worker writes its weights here")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pause-after-step", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args(argv)

    _log("imported")
    config = ak.distribute.read_tf_config()
    name = f"{config['task']['type']}-{config['task']['index']}"
    strategy = ak.distribute.make_strategy("multiworker", timeout=args.timeout)
    _log("strategy")
    with strategy.scope():
        model = sgd_compile(tiny_model("ava5"), learning_rate=0.1)
    _log("built")
    # Each worker reads every example and keeps its share of each global batch.
    data = tf.data.Dataset.from_tensor_slices(tiny_images(GLOBAL_BATCH * STEPS_PER_EPOCH)).batch(GLOBAL_BATCH)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    report = _Report(name, args.report, args.pause_after_step)
    # Each worker keeps its own backup: every worker writes one at each epoch end.
    backup = keras.callbacks.BackupAndRestore(os.path.join(args.backup, name))
    model.fit(data.with_options(options), epochs=args.epochs, callbacks=[backup, report], shuffle=False, verbose=0)

    _log("fitted")
    out = ak.distribute.output_dir(args.out)
    model.save(os.path.join(out, "model.keras"))
    weights = {f"{block}/{i}": w for block, ws in block_weights(model).items() for i, w in enumerate(ws)}
    np.savez(
        os.path.join(args.report, f"{name}.npz"),
        epochs=np.array(report.epochs),
        iterations=int(model.encoder_optimizer.iterations.numpy()),
        noise_state=model.sampling.seed_generator.state.numpy(),
        replicas=strategy.num_replicas_in_sync,
        saved_to=out,
        **weights,
    )
    print(json.dumps({"task": name, "epochs": report.epochs}))


if __name__ == "__main__":
    main()
