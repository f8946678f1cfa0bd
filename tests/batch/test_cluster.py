"""A two-node Ray cluster on this machine loses a node mid-batch: no item is lost and only the
items that node had started run again (slow: starts a head and a node with ``ray start``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("ray")
BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_batch.py"


@pytest.mark.slow
def test_a_killed_node_loses_no_item_and_only_its_items_rerun(shared_data):
    spec = importlib.util.spec_from_file_location("bench_batch", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    f = bench.cluster(24)
    assert f["exit_code"] == 0, f["stderr_tail"]
    assert f["items"] == f["succeeded"] == f["folders_complete"] == 24 and f["lost"] == 0
    assert f["rerun"] >= 1  # the item in flight on the killed node ran again
    assert f["rerun_first_on_killed_node"] == f["rerun"] and f["rerun_first_on_head"] == 0
    assert f["ran_on_killed_node"] >= 2
