"""How scripts/test.sh spreads the suite over its workers."""

import pytest


def test_a_files_tests_run_as_one_group_on_one_worker(request):
    """tests/conftest.py groups each file's tests, so that its servers and exports are built once. pytest 9.2
    broke the grouping without a word (pytest-xdist#1386); a worker sees it in the test's own id."""
    if not getattr(request.config.option, "loadgroup", False):  # what pytest-xdist sets in a loadgroup worker
        pytest.skip("checks the grouping of scripts/test.sh's --dist loadgroup, which this run does not use")
    assert request.node.nodeid.endswith("@tests/test_workers.py"), request.node.nodeid
