"""FLOPs of one training step, counted from the traced TensorFlow graph."""

import collections

import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops


def _live_operations(graph, outputs):
    """The operations TensorFlow runs: ancestors of the outputs and side effects.

    Gradient functions also build ops whose results nothing uses (e.g. the
    filter gradient of a block whose tape does not watch it); TensorFlow's
    graph optimiser prunes them, so they are not counted.
    """
    sinks = [tensor.op for tensor in outputs]
    sinks += [op for op in graph.get_operations() if op._is_stateful and not op.outputs]
    live, stack = set(), list(sinks)
    while stack:
        op = stack.pop()
        if op in live:
            continue
        live.add(op)
        stack.extend(tensor.op for tensor in op.inputs)
        stack.extend(op.control_inputs)
    return live


def step_flops(function, *input_specs):
    """Counts the floating-point operations of one call of `function`.

    Traces `function` (a Python callable, e.g. `model.train_step`) with
    `input_specs` and sums TensorFlow's registered per-op FLOP statistics
    (`tf.compat.v1.profiler` uses the same ones: 2 per multiply-add for
    convolutions, their gradients and matmuls) over the operations whose
    results are used. Ops without a statistic (activations, optimizer
    updates inside control flow) are not counted; they are elementwise and
    small next to the convolutions.

    Returns:
        `(total, by_type)`: the FLOP count and a dict op type -> FLOPs.
    """
    concrete = tf.function(function).get_concrete_function(*input_specs)
    graph = concrete.graph
    by_type = collections.Counter()
    for op in _live_operations(graph, concrete.outputs):
        try:
            stats = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops")
        except ValueError:  # no statistic registered for this op type
            continue
        if stats.value:
            by_type[op.type] += int(stats.value)
    return sum(by_type.values()), dict(by_type)
