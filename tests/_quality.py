"""One digit classifier per test session, trained into a session temp folder and shared by the quality tests."""

from ava_keras.evaluation.digit_classifier import get_classifier


def shared_classifier(tmp_path_factory):
    """(classifier, cache_dir): trained on first call in the session, then reused (memoized per process)."""
    cache_dir = str(tmp_path_factory.getbasetemp() / "ava_keras_classifier_cache")
    return get_classifier(cache_dir=cache_dir), cache_dir
