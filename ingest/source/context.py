"""What the resources of one source share: the token, the settings, the channel plan."""

from __future__ import annotations

import threading
from typing import Any

from ingest.source.changes import Changes
from ingest.source.connect import client_for, run_async, team_of
from ingest.source.org import drop_owned_elsewhere
from ingest.source.pii import channel_pii, pii_for
from ingest.source.planning import plan_channels
from ingest.source.progress import LoadProgress
from ingest.source.selection import ChannelPlan
from ingest.source.settings import LoadSettings


class SlackContext:
    """Shared by the resources of one source: the channel list is read once."""

    def __init__(
        self,
        token: str,
        settings: LoadSettings,
        progress: LoadProgress,
        *,
        pii_salt: str | None = None,
    ) -> None:
        self.token = token
        self.settings = settings
        self.progress = progress
        # --pii: the salt (for hash) stays inside this policy object (ConfigError when
        # hash has none: the load stops before anything is read from Slack)
        self.pii = pii_for(settings.pii, pii_salt)
        self._plan: ChannelPlan | None = None
        self._team_id: str | None = None
        self._lock = threading.Lock()
        # Transient failures of the metadata resources (users, members, team): they load
        # what they read completely, history goes on, and the run fails at its end.
        self.failures: list[BaseException] = []
        self._failures_lock = threading.Lock()
        # Set by the load before history starts: the listener's captured changes to apply,
        # and for a rescan the threads the warehouse holds (per channel, parent ts ->
        # [newest reply ts, replies]).
        self.changes: Changes | None = None
        self.known_threads: dict[str, dict[str, list[Any]]] | None = None

    def team_id(self) -> str | None:
        """The workspace this load reads: `--team`, else the token's own (auth.test, asked
        once); every row carries it (`ingest.source.org.stamp_team`)."""
        with self._lock:
            if self._team_id is None:
                self._team_id = team_of(self.settings) or run_async(self._auth_team)
            return self._team_id or None

    async def _auth_team(self) -> str:
        async with client_for(self.token, self.settings) as client:
            self.progress.attach_stats(client.stats)  # (its auth.test counts like any call)
            return str(client.team_id or "")

    def failed(self, exc: BaseException) -> None:
        with self._failures_lock:
            self.failures.append(exc)

    def plan(self) -> ChannelPlan:
        with self._lock:
            if self._plan is None:
                self._plan = plan_channels(self.token, self.settings, progress=self.progress)
                drop_owned_elsewhere(self._plan, team_of(self.settings), self.settings.org_teams)
                self.progress.set_channel_names(
                    {
                        c["id"]: str(channel_pii(c, self.pii).get("name") or "")
                        for c in self._plan.selected
                    }
                )
                self.progress.set_total(len(self._plan.readable))
                for cid, why in self._plan.skipped.items():
                    self.progress.channel_skipped(cid, why)
            return self._plan

    def fanout_options(self) -> dict[str, Any]:
        """HistoryFanout's keyword arguments from this context."""
        return {"changes": self.changes, "known_threads": self.known_threads}

    def history_ids(self, channel_ids: list[str] | None) -> list[str]:
        """The readable channels, restricted to `channel_ids` (a shard) if given."""
        readable = self.plan().readable_ids
        if channel_ids is None:
            return readable
        wanted = set(channel_ids)
        return [cid for cid in readable if cid in wanted]
