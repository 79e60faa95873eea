"""Distribution strategies for training an AVA with plain `fit` on several
devices (`MirroredStrategy`) or several machines (`MultiWorkerMirroredStrategy`).

`read_tf_config` and `is_chief` are pure Python, so the command line checks
`TF_CONFIG` before importing TensorFlow. `make_strategy` bounds every wait on
other workers, so an unreachable worker gives an error instead of a hang.
See docs/distributed.md.
"""

import atexit
import contextlib
import gc
import ipaddress
import json
import os
import shutil
import socket
import tempfile

from ava_keras.constants import STRATEGIES
from ava_keras.errors import InputError

# Seconds a worker waits for the cluster at start and for each collective
# (all-reduce) during training before it raises instead of hanging.
DEFAULT_TIMEOUT = 300
# Seconds between two pings of every other worker during training.
HEALTH_CHECK_INTERVAL = 10
# The jobs MultiWorkerMirroredStrategy understands (no parameter servers).
JOBS = ("chief", "worker", "evaluator")
# Vectors summed by `reduce_across_replicas` are padded to this length: at
# most 11 logged terms plus two entries per block in an AVA's training step.
REDUCED_LENGTH = 32


def read_tf_config(text=None):
    """Parses and checks a `TF_CONFIG` for `MultiWorkerMirroredStrategy`.

    Args:
        text: The JSON text; by default the `TF_CONFIG` environment variable.

    Returns:
        The parsed dict, `{"cluster": {job: ["host:port", ...]}, "task":
        {"type": job, "index": i}}`.

    Raises:
        ValueError: naming the problem (unset, not JSON, a missing key, a bad
            address, a duplicate address, a task outside the cluster).

    Example:

    >>> read_tf_config('{"cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]},'
    ...                ' "task": {"type": "worker", "index": 1}}')["task"]
    {'type': 'worker', 'index': 1}
    """
    if text is None:
        text = os.environ.get("TF_CONFIG", "")
        if not text.strip():
            raise InputError(
                "TF_CONFIG is not set: multi-worker training needs "
                'TF_CONFIG=\'{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}}\' on every worker'
            )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"TF_CONFIG is not valid JSON ({error}): {text!r}") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise InputError(f'TF_CONFIG needs a "cluster" object mapping jobs to "host:port" lists. Received: {text!r}')
    cluster, task = config["cluster"], config.get("task")
    unknown = sorted(set(cluster) - set(JOBS))
    if unknown:
        raise InputError(f"TF_CONFIG cluster has job(s) {unknown}; MultiWorkerMirroredStrategy takes only {JOBS}")
    if not (cluster.get("worker") or cluster.get("chief")):
        raise InputError(f'TF_CONFIG cluster has no "worker" (or "chief") addresses. Received: {text!r}')
    if len(cluster.get("chief", [])) > 1:
        raise InputError(f'TF_CONFIG cluster has {len(cluster["chief"])} "chief" addresses; at most one is allowed')
    seen = set()
    for job, addresses in cluster.items():
        if not isinstance(addresses, list):
            raise InputError(f'TF_CONFIG cluster job "{job}" must be a list of "host:port". Received: {addresses!r}')
        for address in addresses:
            _check_address(address, job)
            if address in seen:
                raise InputError(f"TF_CONFIG cluster lists {address!r} twice; every task needs its own port")
            seen.add(address)
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise InputError(f'TF_CONFIG needs a "task" object with "type" and "index". Received task={task!r}')
    job, index = task["type"], task["index"]
    if job not in cluster:
        raise InputError(f"TF_CONFIG task type {job!r} is not a job of the cluster {sorted(cluster)}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[job]):
        raise InputError(
            f"TF_CONFIG task index {index!r} is not in 0..{len(cluster[job]) - 1} "
            f'(the cluster has {len(cluster[job])} "{job}" address(es))'
        )
    return config


def _check_address(address, job):
    host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f'TF_CONFIG cluster job "{job}" has address {address!r}; expected "host:port"')
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return
    if not all(part and len(part) < 64 and part.replace("-", "").replace("_", "").isalnum()
               for part in host.split(".")):
        raise InputError(f'TF_CONFIG cluster job "{job}" has address {address!r}: {host!r} is not a host name')


def is_chief(tf_config=None):
    """Whether this task writes the outputs: the `"chief"`, or worker 0 of a
    cluster without one, or a process without `TF_CONFIG`."""
    if tf_config is None:
        if not os.environ.get("TF_CONFIG", "").strip():
            return True
        tf_config = read_tf_config()
    task = tf_config["task"]
    if task["type"] == "chief":
        return True
    return task["type"] == "worker" and task["index"] == 0 and "chief" not in tf_config["cluster"]


def worker_shard(tf_config=None):
    """Returns `(num_workers, worker_index)` of this task, for `image_folder(shard=...)`.

    Workers are numbered chief first, then the "worker" job in order; a
    process without `TF_CONFIG` (or an evaluator) is worker 0 of 1. Each
    worker then reads and decodes only its own share of the files.

    Example:

    >>> worker_shard(read_tf_config('{"cluster": {"worker": ["a:1", "b:1"]},'
    ...                             ' "task": {"type": "worker", "index": 1}}'))
    (2, 1)
    """
    if tf_config is None:
        if not os.environ.get("TF_CONFIG", "").strip():
            return 1, 0
        tf_config = read_tf_config()
    cluster, task = tf_config["cluster"], tf_config["task"]
    chiefs = len(cluster.get("chief", []))
    if task["type"] not in ("chief", "worker"):
        return 1, 0
    index = task["index"] + (chiefs if task["type"] == "worker" else 0)
    return chiefs + len(cluster.get("worker", [])), index


def output_dir(path, tf_config=None):
    """Returns where this task writes the outputs meant for `path`.

    The chief writes to `path` (created if missing); every other worker gets a temporary folder,
    deleted when the process exits. All workers run the same saving code
    (the usual multi-worker pattern), and only the chief's files are kept.

    Example:

    >>> model.save(os.path.join(output_dir("out"), "model.keras"))  # doctest: +SKIP
    """
    if is_chief(tf_config):
        os.makedirs(path, exist_ok=True)
        return path
    scratch = tempfile.mkdtemp(prefix="ava_keras_worker_")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return scratch


def local_cluster(num_workers):
    """A `TF_CONFIG` cluster of `num_workers` workers on this machine, on ports free right now.

    For trying multi-worker training (or testing it) with several processes on one machine:
    give each process `{"cluster": local_cluster(n), "task": {"type": "worker", "index": i}}`.
    """
    sockets = [socket.socket() for _ in range(num_workers)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return {"worker": [f"127.0.0.1:{port}" for port in ports]}


def make_strategy(name="mirrored", timeout=DEFAULT_TIMEOUT, devices=None):
    """Creates a `tf.distribute` strategy by name.

    Args:
        name: `"none"` (the default strategy: one device), `"mirrored"` (all
            local GPUs, or the CPU, or `devices`) or `"multiworker"` (the
            cluster in `TF_CONFIG`, checked first with `read_tf_config`).
        timeout: Seconds a multi-worker task waits for the whole cluster at
            start, and for each all-reduce during training, before raising
            instead of hanging. It must exceed the slowest worker's lag, e.g.
            tracing the first step.
        devices: Optional device names for `"mirrored"`.

    Returns:
        A `tf.distribute.Strategy`. Build and compile the model in its
        `scope()`, then call `fit` outside it.

    Raises:
        ValueError: for an unknown name, a bad timeout or a bad `TF_CONFIG`.
        RuntimeError: when the cluster is not reachable within `timeout`.

    Example:

    >>> strategy = make_strategy("mirrored")  # doctest: +SKIP
    >>> with strategy.scope():
    ...     model = AVA.from_preset("ava5", image_shape=(28, 28, 1), latent_dim=8)
    ...     model.compile()
    >>> model.fit(images, batch_size=64 * strategy.num_replicas_in_sync)
    """
    if name not in STRATEGIES:
        raise InputError(f"`name` must be one of {STRATEGIES}. Received: name={name!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise InputError(f"`timeout` must be a positive number of seconds. Received: timeout={timeout!r}")
    if name == "multiworker":
        read_tf_config()
    import tensorflow as tf

    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    from tensorflow.python.distribute import collective_all_reduce_strategy as collective
    from tensorflow.python.eager import context

    # With TensorFlow's default coordination service, a worker whose peer
    # never starts was seen to wait without bound (also with a 20 s
    # cluster_register_timeout). Without it, the strategy runs its own
    # health check instead: a bounded wait for
    # the cluster at start (the class attribute TensorFlow's tests set), then
    # a ping of every peer that aborts pending all-reduces with
    # UnavailableError when one is down.
    context.context().configure_coordination_service(service_type="")
    extended = collective.CollectiveAllReduceExtended
    saved = extended._check_health_initial_timeout
    extended._check_health_initial_timeout = timeout
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
    failure = None
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except RuntimeError as error:
        failure = str(error)
    finally:
        extended._check_health_initial_timeout = saved
    if failure is not None:
        # The half-built strategy holds a multiprocessing ThreadPool; finalised
        # at interpreter exit, its __del__ prints a BrokenPipeError traceback.
        gc.collect()
        config = read_tf_config()
        raise RuntimeError(
            f"the cluster {config['cluster']} did not come up within {timeout:g} s "
            f"(this task: {config['task']}): {failure}"
        )
    strategy.extended._check_health_interval = min(HEALTH_CHECK_INTERVAL, timeout)
    return strategy


def step_logs(logs):
    """Shapes a train/test step's scalar logs for Keras's cross-worker reduction.

    Across workers Keras 3 reduces each step output with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on scalars
    (tensorflow/tensorflow#72388). As 1-element vectors they reduce to the
    scalar mean over all replicas. Other strategies get `logs` unchanged.

    Args:
        logs: Dict of scalar tensors, inside `train_step` or `test_step`.

    Returns:
        The dict to return from the step.
    """
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode():
        return {name: tf.reshape(value, (1,)) for name, value in logs.items()}
    return logs


def reduce_across_replicas(values, reduction):
    """Combines per-replica `values` (a vector) over replicas: "sum", "min" or "max".

    Called in a replica context, such as a train step; elsewhere, or on one
    replica, returns `values`. Only all-reduce sums (no `all_gather`: its
    collective instances were seen to clash between two MirroredStrategy
    objects in one process). For "min" and "max" each replica's values fill
    its own row of a zero matrix, and the rows are summed.

    Args:
        values: A float32 vector of at most `REDUCED_LENGTH` values for "sum".
        reduction: `"sum"`, `"min"` or `"max"`.

    Returns:
        The reduced vector, the same on every replica.
    """
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    if reduction == "sum":
        # One fixed length for every reduced vector: collective instance keys
        # are reused across MirroredStrategy objects in one process, and a
        # reuse with another shape aborts ("Shape mismatch in the collective instance").
        length = tf.shape(values)[0]
        padded = tf.pad(values, [[0, REDUCED_LENGTH - length]])
        return context.all_reduce("sum", padded)[:length]
    own_row = tf.equal(tf.range(context.num_replicas_in_sync), context.replica_id_in_sync_group)
    rows = context.all_reduce("sum", tf.where(own_row[:, None], values[None], 0.0))
    return {"min": tf.reduce_min, "max": tf.reduce_max}[reduction](rows, axis=0)
