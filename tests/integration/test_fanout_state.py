"""Checkpoints of a backfill track only thread parents inside the lookback, so the state
committed with every slice stays the size of the lookback, not of the channel."""

from __future__ import annotations

from ingest.simulator import SimulatorThread, Workspace
from ingest.source import LoadSettings
from ingest.source.cursors import ChannelState
from ingest.source.events import ChannelDone, Checkpoint
from ingest.source.fanout import HistoryFanout
from ingest.source.settings import ts_to_micros


def _checkpoint_threads(lookback_days: float) -> tuple[int, list[str], int]:
    ws = Workspace.generate(size="tiny", seed=3)
    with SimulatorThread(ws, profile="unlimited") as s:
        settings = LoadSettings(
            base_url=s.base_url,
            profile="unlimited",
            lookback_days=lookback_days,
            checkpoint_pages=1,
        ).validate()
        ids = sorted(ws.truth().readable_channel_ids)
        fan = HistoryFanout(ws.token, settings, ids, {})
        tracked: list[str] = []
        checkpoints = 0
        for item in fan.items():
            if isinstance(item, Checkpoint | ChannelDone):
                checkpoints += 1
                tracked.extend(ChannelState.from_dict(item.state).threads)
        floor = fan.now_micros - fan.lookback_micros
        too_old = [ts for ts in tracked if ts_to_micros(ts) < floor]
    return checkpoints, too_old, len(tracked)


def test_checkpoints_track_only_threads_inside_the_lookback():
    checkpoints, too_old, _ = _checkpoint_threads(lookback_days=30.0)
    assert checkpoints > 0
    assert too_old == []
    _, _, tracked_all = _checkpoint_threads(lookback_days=36500.0)
    assert tracked_all > 0  # the workspace has threads: the filter above is not vacuous
