"""The test suite's own sharing: under `-n` the tests of one shared run or module fixture go to one process."""

import pytest
import xdist


def test_every_grouped_test_goes_to_its_groups_process(request):
    # pytest-xdist's `--dist loadgroup` (pytest.ini) sends a group to one process by adding `@group` to the ids
    # of the tests marked `xdist_group`. When it cannot (pytest 9.2 with pytest-xdist 3.8), nothing fails, but
    # every process makes each shared run and module fixture for itself, and the suite takes far longer.
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("tests are grouped only in pytest-xdist's test processes (-n 2)")
    ungrouped = [item.nodeid for item in request.session.items
                 if item.get_closest_marker("xdist_group") is not None and "@" not in item.nodeid]
    assert not ungrouped, (
        f"pytest {pytest.__version__} with pytest-xdist {xdist.__version__} did not group {len(ungrouped)} tests "
        f"(e.g. {ungrouped[0]}); install the versions setup.py's `test` extra names: pip install -e '.[test]'")
