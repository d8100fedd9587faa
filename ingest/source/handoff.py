"""A bounded queue from coroutines on one event loop to a thread that blocks on `get`.

Neither side polls: a producer finding the queue full parks on a future of its loop; the
consumer's `get` frees a slot and wakes one parked producer through
`loop.call_soon_threadsafe`. The bound is what keeps a load's memory flat whatever the
workspace size: producers wait while the consumer (dlt) is behind.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class HandoffClosed(Exception):
    """The consumer went away: nobody will take what a producer puts."""


class Handoff(Generic[T]):
    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._items: deque[T] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._parked: deque[asyncio.Future[None]] = deque()  # touched on the loop only
        self._n_parked = 0  # read by the consumer, under the lock

    async def put(self, item: T) -> None:
        """Queue `item`, waiting (without polling) while the queue is full."""
        loop = asyncio.get_running_loop()
        while True:
            with self._ready:
                if self._closed:
                    raise HandoffClosed()
                if len(self._items) < self._maxsize:
                    self._items.append(item)
                    self._ready.notify()
                    return
                self._loop = loop
                self._n_parked += 1
            slot: asyncio.Future[None] = loop.create_future()
            self._parked.append(slot)
            try:
                await slot
            except asyncio.CancelledError:
                if slot.done() and not slot.cancelled():
                    self._wake_one()  # pass on the wake-up this task can no longer use
                raise
            finally:
                with self._ready:
                    self._n_parked -= 1

    def put_final(self, item: T) -> None:
        """Queue the last item from any thread without waiting (one past the bound)."""
        with self._ready:
            self._items.append(item)
            self._ready.notify()

    def get(self, timeout: float | None = None) -> T | None:
        """The next item, or None if none came within `timeout` seconds."""
        with self._ready:
            if not self._ready.wait_for(lambda: bool(self._items), timeout):
                return None
            item = self._items.popleft()
            wake = self._loop if self._n_parked else None
        if wake is not None:
            self._call_soon(wake, self._wake_one)
        return item

    def close(self) -> None:
        """Refuse further items and wake every parked producer (they raise HandoffClosed)."""
        with self._ready:
            self._closed = True
            loop = self._loop
        if loop is not None:
            self._call_soon(loop, self._wake_all)

    def _wake_one(self) -> None:
        while self._parked:
            slot = self._parked.popleft()
            if not slot.done():
                slot.set_result(None)
                return

    def _wake_all(self) -> None:
        while self._parked:
            self._wake_one()

    @staticmethod
    def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop already closed: nobody is parked on it
            pass
