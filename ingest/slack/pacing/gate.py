"""A cap on requests in flight, shared by every thread and event loop in the process.

Waiters queue FIFO; each is woken in its *own* loop (``call_soon_threadsafe``), and its place
is counted before it runs, so a place handed over is never lost to a newcomer. A waiter that
is cancelled after being handed a place gives it on to the next.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

__all__ = ["InFlightGate"]


class InFlightGate:
    """At most ``cap`` holders at once (``cap=None``: no limit). Thread-safe."""

    def __init__(self, cap: int | None) -> None:
        self._lock = threading.Lock()
        self._cap = cap
        self._in_flight = 0
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self.n_waits = 0

    @property
    def cap(self) -> int | None:
        with self._lock:
            return self._cap

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def set_cap(self, cap: int | None) -> None:
        """Change the cap; waiters are woken if it grew."""
        with self._lock:
            self._cap = cap
            self._wake_locked()

    def try_enter(self) -> bool:
        """Take a place if one is free and nobody queued before us."""
        with self._lock:
            return self._try_enter_locked()

    def _try_enter_locked(self) -> bool:
        if self._cap is not None and (self._in_flight >= self._cap or self._waiters):
            return False
        self._in_flight += 1
        return True

    async def enter(self) -> bool:
        """Wait (in the caller's loop) for a place and take it; True if it had to wait.

        Pair every call with ``leave()``.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._try_enter_locked():
                return False
            self.n_waits += 1
            future: asyncio.Future[None] = loop.create_future()
            entry = (loop, future)
            self._waiters.append(entry)
        try:
            await future
        except BaseException:
            with self._lock:
                try:
                    self._waiters.remove(entry)
                except ValueError:
                    # We were already handed the place (woken): give it back.
                    self._in_flight -= 1
                    self._wake_locked()
            raise
        return True

    def leave(self) -> None:
        """Give back a place taken by ``enter``/``try_enter``."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._wake_locked()

    def _wake_locked(self) -> None:
        # Hand places to waiters FIFO; each place is counted before the waiter runs.
        while self._waiters:
            if self._cap is not None and self._in_flight >= self._cap:
                return
            loop, future = self._waiters.popleft()
            self._in_flight += 1
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # that loop is closed: its waiter is gone
                self._in_flight -= 1


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
