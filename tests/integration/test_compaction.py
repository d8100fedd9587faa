"""An initial backfill loads its slices without DuckDB's checkpoint compaction (the merge
of part-full row groups was a backfill's memory peak); every later load compacts (only
compaction reclaims the rows a lookback re-merges). Checked on the DuckDB file's own row
groups."""

from __future__ import annotations

from ingest.load.run import Target
from ingest.simulator import SimulatorThread, Workspace
from tests.integration.helpers import PAGES_200, assert_matches_truth, load, query


def message_row_groups(target: Target) -> int:
    return query(
        target, "select count(distinct row_group_id) from pragma_storage_info('slack.messages')"
    )[0][0]


def stored_message_rows(target: Target) -> int:
    """Rows the file stores for messages, deleted ones included."""
    return query(
        target,
        "select coalesce(sum(n), 0) from (select max(count) as n from "
        "pragma_storage_info('slack.messages') group by row_group_id)",
    )[0][0]


def test_backfill_skips_compaction_and_the_next_run_compacts(target):
    ws = Workspace.generate(size="small", seed=14)
    with SimulatorThread(ws, profile="unlimited") as sim:
        first = load(sim, target, slice_rows=800, limits=PAGES_200)
        assert_matches_truth(target, ws.truth())
        slices = len(first.load_ids)
        assert slices >= 6, first.load_ids
        # one row group per slice, none merged (compaction would leave 1: < 122,880 rows)
        assert message_row_groups(target) >= slices - 1
        assert stored_message_rows(target) == len(ws.truth().messages)

        # a run with cursors re-merges its lookback (delete + insert): compaction is back on
        ws.mutate(rng_seed=3, n=30)
        load(sim, target, slice_rows=800, limits=PAGES_200)
    assert_matches_truth(target, ws.truth())
    assert message_row_groups(target) <= 2  # the backfill's row groups merged


def test_fresh_pipelines_folder_on_a_loaded_warehouse_is_not_a_backfill(target, tmp_path):
    """The cursors come from the warehouse (the sync), not the local folder: a new machine
    continuing a loaded dataset must keep compacting."""
    ws = Workspace.generate(size="tiny", seed=15)
    with SimulatorThread(ws, profile="unlimited") as sim:
        load(sim, target, slice_rows=100, limits=PAGES_200)
        assert message_row_groups(target) > 1
        elsewhere = Target(
            duckdb_path=target.duckdb_path,
            dataset=target.dataset,
            pipelines_dir=str(tmp_path / "other-machine"),
        )
        ws.mutate(rng_seed=4, n=10)
        load(sim, elsewhere, slice_rows=100, limits=PAGES_200)
    assert_matches_truth(target, ws.truth())
    assert message_row_groups(target) == 1
