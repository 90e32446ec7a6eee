"""Dynamic batching: concurrent requests for one model are merged along the batch axis and split back.

Whenever an execution slot is free, the collector takes the first queued request and gathers more until
the batch holds `max_batch` rows or `max_delay` has passed; requests whose non-batch shapes differ are
run as separate groups. While every slot is busy, requests pile up in the queue, so the next batch is
larger without any added delay. Each request gets exactly its own rows back.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from .protocol import ProtocolError

Feeds = dict[str, np.ndarray]
Execute = Callable[[Feeds], Awaitable[Feeds]]


@dataclass
class _Pending:
    feeds: Feeds
    rows: int
    key: tuple
    future: asyncio.Future = field(repr=False)


def rows_of(feeds: Feeds) -> int:
    """Rows along the batch axis (the first input's first dim; 1 for a scalar input)."""
    first = next(iter(feeds.values()), None)
    return int(first.shape[0]) if first is not None and first.ndim else 1


def batch_key(feeds: Feeds) -> tuple:
    """Requests can share a batch when every input agrees on dtype and on all dims but the first."""
    return tuple(sorted((n, a.dtype.str, a.shape[1:]) for n, a in feeds.items()))


class Batcher:
    def __init__(
        self,
        execute: Execute,
        *,
        max_batch: int,
        max_delay_s: float,
        slots: int,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._execute = execute
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self._slots = asyncio.Semaphore(max(1, slots))
        self._on_batch = on_batch
        self._queue: collections.deque[_Pending] = collections.deque()
        self._arrival: asyncio.Future | None = None  # what the collector awaits while the queue is empty
        self._carry: _Pending | None = None
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._collect(), name="portkit-batcher")

    async def stop(self) -> None:
        """Finish every batch already running; requests still queued are answered with an error."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        for item in ([self._carry] if self._carry else []) + list(self._queue):
            if not item.future.done():
                item.future.set_exception(ProtocolError(503, "server is shutting down"))

    async def submit(self, feeds: Feeds) -> Feeds:
        rows = rows_of(feeds)
        if rows >= self.max_batch or self._task is None:
            async with self._slots:
                out = await self._execute(feeds)
            if self._on_batch:
                self._on_batch(rows)
            return out
        fut = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(feeds, rows, batch_key(feeds), fut))
        if self._arrival is not None and not self._arrival.done():
            self._arrival.set_result(None)
        return await fut

    async def _next(self, deadline: float | None) -> _Pending | None:
        """The next queued request, waiting for one until `deadline` (loop time; None: for ever).
        A bare future and a timer: cheaper than asyncio.wait_for, which starts a task per call."""
        loop = asyncio.get_running_loop()
        while not self._queue:
            if deadline is not None and loop.time() >= deadline:
                return None
            self._arrival = loop.create_future()
            timer = loop.call_at(deadline, _wake, self._arrival) if deadline is not None else None
            try:
                await self._arrival
            finally:
                self._arrival = None
                if timer is not None:
                    timer.cancel()
        return self._queue.popleft()

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            try:
                first = self._carry or await self._next(None)
                self._carry = None
                batch, rows = [first], first.rows
                deadline = loop.time() + self.max_delay_s
                while rows < self.max_batch:
                    item = await self._next(deadline)
                    if item is None:
                        break
                    if rows + item.rows > self.max_batch:
                        self._carry = item
                        break
                    batch.append(item)
                    rows += item.rows
            except BaseException:
                self._slots.release()
                raise
            task = loop.create_task(self._run_groups(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run_groups(self, batch: list[_Pending]) -> None:
        try:
            groups: dict[tuple, list[_Pending]] = {}
            for item in batch:
                groups.setdefault(item.key, []).append(item)
            for items in groups.values():
                await self._run(items)
        finally:
            self._slots.release()

    async def _run(self, items: list[_Pending]) -> None:
        items = [i for i in items if not i.future.cancelled()]
        if not items:
            return
        rows = sum(i.rows for i in items)
        try:
            if len(items) == 1:
                outs = [await self._execute(items[0].feeds)]
            else:
                merged = {n: np.concatenate([i.feeds[n] for i in items]) for n in items[0].feeds}
                out = await self._execute(merged)
                outs = _split(out, [i.rows for i in items], rows)
        except Exception as e:  # noqa: BLE001 - handed to every waiting request, which maps it
            for i in items:
                if not i.future.done():
                    i.future.set_exception(e)
            return
        if self._on_batch:
            self._on_batch(rows)
        for i, o in zip(items, outs, strict=True):
            if not i.future.done():
                i.future.set_result(o)


def _split(out: Feeds, sizes: list[int], rows: int) -> list[Feeds]:
    for name, arr in out.items():
        if arr.ndim == 0 or arr.shape[0] != rows:
            raise ProtocolError(
                500,
                f"output '{name}' has shape {list(arr.shape)}, not {rows} rows: "
                f"this model cannot be batched (serve it with --max-batch 1)",
            )
    bounds = np.cumsum(sizes)[:-1]
    parts = {name: np.split(arr, bounds) for name, arr in out.items()}
    return [{name: parts[name][k] for name in out} for k in range(len(sizes))]


def _wake(arrival: asyncio.Future) -> None:
    if not arrival.done():
        arrival.set_result(None)
