"""Bit-identical training runs on one machine."""


def run_deterministically(enabled=True):
    """Makes TensorFlow repeat a seeded run bit for bit: op determinism, and every op on one thread.

    Op determinism alone (`tf.config.experimental.enable_op_determinism`)
    is not enough on a CPU: with several threads, the order in which
    TensorFlow runs and splits the ops can change from one run to the next,
    and floating-point sums depend on that order. One intra-op and one
    inter-op thread fix it. Must be called before TensorFlow runs its first op.
    Does nothing unless `enabled` (the `--deterministic` flag).
    """
    if not enabled:
        return
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
