"""Live progress of a flow run's shards, published as a Prefect progress artifact.

Shard tasks of one flow run (threads of the flow process) register their `LoadProgress`
on the run's board; a small thread sums them every few seconds and updates the artifact,
so a long backfill shows how far it is (channels done of channels planned).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from typing import Any
from uuid import UUID

from ingest.source import LoadProgress

logger = logging.getLogger("flows.progress")
_BOARDS: dict[str, ProgressBoard] = {}
_LOCK = threading.Lock()


class ProgressBoard:
    def __init__(
        self,
        key: str,
        total_channels: int,
        *,
        artifact_key: str | None = None,
        interval_s: float = 2.0,
    ) -> None:
        self.key = key
        self.total = max(0, total_channels)
        self.artifact_key = artifact_key
        self.interval_s = interval_s
        self._parts: dict[str, LoadProgress] = {}
        self._finished: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.artifact_id: UUID | None = None

    # -- shards ---------------------------------------------------------------------------
    def track(self, part: str) -> LoadProgress:
        progress = LoadProgress()
        with self._lock:
            self._parts[part] = progress
            self._finished.pop(part, None)
        return progress

    def finished(self, part: str, channels: int) -> None:
        """A part done elsewhere (another process) or done for good."""
        with self._lock:
            self._finished[part] = channels
            self._parts.pop(part, None)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            parts = list(self._parts.values())
            done = sum(self._finished.values())
        messages = replies = 0
        for p in parts:
            snap = p.snapshot()
            done += snap["channels_done"]
            messages += snap["messages"]
            replies += snap["replies"]
        pct = 100.0 if self.total == 0 else min(100.0, 100.0 * done / self.total)
        return {
            "channels_done": done,
            "channels_total": self.total,
            "percent": pct,
            "messages_in_flight": messages,
            "replies_in_flight": replies,
        }

    # -- artifact -------------------------------------------------------------------------
    def _describe(self, snap: dict[str, Any]) -> str:
        return f"channels {snap['channels_done']}/{snap['channels_total']} ({snap['percent']:.0f}%)"

    def publish(self) -> None:
        from prefect.artifacts import create_progress_artifact, update_progress_artifact

        # `_sync=True` (Prefect's async_dispatch) forces the sync variant; type checkers do
        # not see that keyword, hence the casts.
        create: Any = create_progress_artifact
        update: Any = update_progress_artifact
        snap = self.snapshot()
        try:
            if self.artifact_id is None:
                self.artifact_id = create(
                    progress=snap["percent"],
                    key=self.artifact_key,
                    description=self._describe(snap),
                    _sync=True,
                )
            else:
                update(
                    self.artifact_id, snap["percent"], description=self._describe(snap), _sync=True
                )
        except Exception as exc:  # noqa: BLE001 - progress is best effort, never fails a load
            status = getattr(getattr(exc, "response", None), "status_code", None)
            logger.warning(
                "could not update the progress artifact: %s%s",
                type(exc).__name__,
                f" (HTTP {status})" if status else "",
            )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.publish()

    def __enter__(self) -> ProgressBoard:
        with _LOCK:
            _BOARDS[self.key] = self
        self.publish()
        # the flow's context (Prefect settings such as the API URL, the run) in the thread:
        # without it the updates went to another API (HTTP 404 on every update)
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._loop,), name="slack-ingest-progress", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.publish()
        with _LOCK:
            _BOARDS.pop(self.key, None)


def board_for(key: str | None) -> ProgressBoard | None:
    if key is None:
        return None
    with _LOCK:
        return _BOARDS.get(key)
