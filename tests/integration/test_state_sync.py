"""The destination, not the local working folder, says what was loaded: dlt commits each
pipeline's state with its data, and every load starts by syncing with it.

- The destination was emptied (the DuckDB file deleted, the dataset dropped) while dlt's
  local folder still holds cursors: the next load reads everything again, not just the
  lookback (else the warehouse silently misses the older history).
- A fresh machine (no local folder) against a loaded destination continues from the
  committed cursors instead of re-reading every thread.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ingest.simulator import SimulatorThread, Workspace
from tests.integration.helpers import assert_matches_truth, load


def test_emptied_destination_is_loaded_again_in_full(target):
    ws = Workspace.generate(size="tiny", seed=91)
    with SimulatorThread(ws, profile="unlimited") as sim:
        load(sim, target, lookback_days=7)
        assert_matches_truth(target, ws.truth())
        Path(target.duckdb_path).unlink()  # the warehouse is gone; dlt's folder is not
        sim.reset_stats()
        load(sim, target, lookback_days=7)
        stats = sim.stats()["methods"]
    assert_matches_truth(target, ws.truth())
    assert stats["conversations.replies"]["requests"] > 0  # threads read again


def test_fresh_working_folder_continues_from_the_destination(target):
    ws = Workspace.generate(size="tiny", seed=92)
    with SimulatorThread(ws, profile="unlimited") as sim:
        load(sim, target, lookback_days=7)
        fresh = sim.stats()["methods"]
        shutil.rmtree(target.pipelines_dir)  # a new machine, the same warehouse
        sim.reset_stats()
        load(sim, target, lookback_days=7)
        again = sim.stats()["methods"]
    assert_matches_truth(target, ws.truth())
    assert fresh["conversations.replies"]["requests"] > 0
    assert "conversations.replies" not in again  # the committed thread state was restored
