"""Regenerate and compare: a generated file, or a doc quoting one, must hold exactly what its generator writes."""

import difflib
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _diff(committed, generated, path, limit=60):
    lines = list(
        difflib.unified_diff(
            committed.splitlines(), generated.splitlines(), f"{path} (committed)", f"{path} (regenerated)",
            lineterm="", n=1,
        )
    )
    return "\n".join(lines[:limit] + ([f"... {len(lines) - limit} more diff lines"] if len(lines) > limit else []))


def assert_matches_committed(generated, path, command):
    """Fails, showing a diff, unless the committed file `path` (relative to the repo) is exactly `generated`.

    `command` is what regenerates the file; the message tells the reader to rerun and commit it.
    """
    committed = (ROOT / path).read_text()
    if generated != committed:
        raise AssertionError(
            f"{path} is not what `{command}` generates from the committed inputs. Rerun it and commit "
            f"the result (or fix the generator):\n{_diff(committed, generated, path)}"
        )


def assert_doc_quotes(generated, doc_path, source, command):
    """Fails unless the doc `doc_path` contains the text `generated` (read from `source`) verbatim."""
    doc = (ROOT / doc_path).read_text()
    if generated.strip() not in doc:
        first = next((line for line in generated.strip().splitlines() if line not in doc), None)
        raise AssertionError(
            f"{doc_path} no longer quotes {source} as `{command}` generates it; copy the generated text "
            f"into the doc. First generated line missing from the doc:\n{first!r}"
        )
