"""Calls a SavedModel export as a serving user would, in a process without ava_keras.

Run as `python tests/_export_client.py EXPORT CALLS_JSON OUTPUTS_NPZ`. Each call in CALLS_JSON is
`{"name", "route", "endpoint", "inputs"}`, where `inputs` maps an input name to a key of the
arrays in `CALLS_JSON`'s sibling `.npz` (`n` and `seed` are plain integers). A route is
- `load`: `tf.saved_model.load(EXPORT).<endpoint>(**inputs)`,
- `tfsm`: `keras.layers.TFSMLayer(EXPORT, call_endpoint=endpoint)(first, **others)`: the first input
  positionally, the others (`seed`, `label`) by name, as saved_models/README.md calls it,
- `rest`: the JSON body of TF Serving's REST predict API that saved_models/README.md shows,
  `{"signature_name": endpoint, "inputs": {...}}`, serialised, parsed again and fed to
  `loaded.signatures[signature_name]` with each input as the signature's dtype, as TF Serving does.
Prints one JSON line: `{name: {"outputs": [keys]} or {"error": type, "first_line", "message_line", "text"}}`,
and whether ava_keras could be imported; the outputs go to OUTPUTS_NPZ as `name/key`.
"""

import json
import os
import sys

sys.path = [p for p in sys.path if not os.path.isdir(os.path.join(p or os.getcwd(), "ava_keras"))]
# Newer pip installs editable packages through a meta-path finder, not a path entry.
sys.meta_path = [f for f in sys.meta_path if "ava_keras" not in getattr(f, "__module__", "")]

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def rest_body(endpoint, inputs):
    """The REST predict body of saved_models/README.md, as text."""
    return json.dumps({"signature_name": endpoint, "inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()}})


def rest_predict(loaded, body):
    """What TF Serving's predict handler does with `body`: each input as its signature's dtype."""
    request = json.loads(body)
    signature = loaded.signatures[request.get("signature_name", "serving_default")]
    specs = signature.structured_input_signature[1]
    inputs = {k: tf.constant(np.asarray(v, dtype=specs[k].dtype.as_numpy_dtype)) for k, v in request["inputs"].items()}
    return signature(**inputs)


def call(loaded, layers, route, endpoint, inputs):
    if route == "load":
        return getattr(loaded, endpoint)(**inputs)
    if route == "tfsm":  # as saved_models/README.md calls it
        (_, first), *others = [(k, tf.constant(v) if isinstance(v, int) else v) for k, v in inputs.items()]
        return layers[endpoint](first, **dict(others))
    return rest_predict(loaded, rest_body(endpoint, inputs))


def main(export, calls_path, outputs_path):
    try:
        import ava_keras  # noqa: F401

        importable = True
    except ImportError:
        importable = False
    with open(calls_path, encoding="utf-8") as file:
        calls = json.load(file)
    arrays = np.load(os.path.splitext(calls_path)[0] + ".npz")
    loaded = tf.saved_model.load(export)
    layers = {name: keras.layers.TFSMLayer(export, call_endpoint=name) for name in {c["endpoint"] for c in calls}}
    report, outputs = {}, {}
    for entry in calls:
        inputs = {k: v if isinstance(v, int) else arrays[v] for k, v in entry["inputs"].items()}
        try:
            result = call(loaded, layers, entry["route"], entry["endpoint"], inputs)
        except Exception as error:  # recorded for the test to judge
            lines = str(error).splitlines()
            report[entry["name"]] = {
                "error": type(error).__name__,
                "first_line": lines[0] if lines else "",
                "message_line": next((line for line in lines if "assertion failed:" in line), None),
                "text": str(error)[:500],
            }
            continue
        report[entry["name"]] = {"outputs": sorted(result)}
        outputs.update({f"{entry['name']}/{key}": value.numpy() for key, value in result.items()})
    np.savez(outputs_path, **outputs)
    imported = any(m.split(".")[0] == "ava_keras" for m in sys.modules)
    print(json.dumps({"importable": importable, "imported": imported, "calls": report}))


if __name__ == "__main__":
    main(*sys.argv[1:])
