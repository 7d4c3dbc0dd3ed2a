"""Micro-batching: concurrent requests for one model are scored in one call.

Requests queue up while the model is busy and the next call takes all of them (up to
``max_rows``); when requests are arriving together, the batcher lets those already being
read join, for at most ``max_wait`` seconds, before it calls the model. It never waits
idly, and a single request on an idle server waits for nothing. The queue is bounded in
rows: beyond ``max_queue_rows`` a request is refused with 503 and ``Retry-After`` rather
than left to wait without bound.

The model runs on one thread beside the event loop, so parsing and checking of the next
requests go on while it computes (boosters and ONNX Runtime release the GIL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mlcycle.serving._input import RequestError
from mlcycle.serving._model import Outputs, ServedModel

__all__ = ["MicroBatcher"]

logger = logging.getLogger("mlcycle.serve")


@dataclass
class _Job:
    model: ServedModel
    columns: dict[str, list[Any]]
    n_rows: int
    future: asyncio.Future[Outputs] = field(repr=False)
    tag: Any = None
    """The caller's note on the request, handed to ``on_scored`` (request id, role, ...)."""


Scored = Callable[[ServedModel, list[_Job], dict[str, list[Any]], Outputs], None]


class MicroBatcher:
    """Collects the jobs of concurrent requests and runs them as batches, per model version."""

    def __init__(
        self,
        *,
        max_rows: int = 2048,
        max_wait: float = 0.002,
        max_queue_rows: int = 50_000,
        on_scored: Scored | None = None,
    ) -> None:
        self.on_scored = on_scored
        """Called on the model thread with each scored group: the place to log a whole
        batch at once (one list per column) instead of request by request."""
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.max_queue_rows = max_queue_rows
        self.queued_rows = 0
        self.batches = 0
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(
            1, thread_name_prefix="mlcycle-model", initializer=_one_thread
        )
        self._last_jobs = 0

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def submit(
        self, model: ServedModel, columns: dict[str, list[Any]], n: int, tag: Any = None
    ) -> Outputs:
        """Score one request's checked rows; raises 503 when the queue is full."""
        if self._queue is None:
            raise RequestError(
                503, "The server is starting or stopping.", headers={"Retry-After": "1"}
            )
        if self.queued_rows + n > self.max_queue_rows and self.queued_rows:
            raise RequestError(
                503,
                f"The server is overloaded ({self.queued_rows:,} rows waiting); retry shortly.",
                headers={"Retry-After": "1"},
            )
        future: asyncio.Future[Outputs] = asyncio.get_running_loop().create_future()
        self.queued_rows += n
        self._queue.put_nowait(_Job(model, columns, n, future, tag))
        return await future

    async def drain(self) -> None:
        """Finish every queued job, then stop."""
        if self._queue is not None:
            await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._pool.shutdown(wait=True)

    async def _run(self) -> None:
        assert self._queue is not None
        queue, loop = self._queue, asyncio.get_running_loop()
        while True:
            first = await queue.get()
            batch, rows = [first], first.n_rows
            if self.max_wait > 0 and self._last_jobs > 1 and rows < self.max_rows:
                await self._gather(queue, loop.time() + self.max_wait)
            while rows < self.max_rows and not queue.empty():
                job = queue.get_nowait()
                batch.append(job)
                rows += job.n_rows
            self._last_jobs = len(batch)
            self.batches += 1
            try:
                results = await loop.run_in_executor(self._pool, _score, batch, self.on_scored)
                for job, result in zip(batch, results, strict=True):
                    if not job.future.done():
                        if isinstance(result, BaseException):
                            job.future.set_exception(result)
                        else:
                            job.future.set_result(result)
            finally:
                for _ in batch:
                    queue.task_done()
                self.queued_rows -= rows

    @staticmethod
    async def _gather(queue: asyncio.Queue[_Job], deadline: float) -> None:
        """Let requests that are already being read join the batch: yield to the event
        loop while each turn adds jobs, never past ``deadline`` and never idly."""
        loop = asyncio.get_running_loop()
        size = queue.qsize()
        while loop.time() < deadline:
            await asyncio.sleep(0)
            if queue.qsize() == size:
                return
            size = queue.qsize()


def _one_thread() -> None:
    """OpenMP and BLAS pools of the model thread: one thread (see ``_model._one_thread``)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def _score(batch: list[_Job], on_scored: Scored | None) -> list[Outputs | BaseException]:
    """Run each model's jobs as one call and split the answers back by job."""
    out: list[Outputs | BaseException] = [Exception("not scored")] * len(batch)
    groups: dict[int, list[int]] = {}
    for i, job in enumerate(batch):
        groups.setdefault(id(job.model), []).append(i)
    for members in groups.values():
        jobs = [batch[i] for i in members]
        model = jobs[0].model
        try:
            if len(jobs) == 1:
                merged, total = jobs[0].columns, jobs[0].n_rows
            else:
                merged = {name: [] for name in jobs[0].columns}
                for job in jobs:
                    for name, values in job.columns.items():
                        merged[name].extend(values)
                total = sum(job.n_rows for job in jobs)
            result = model.predict(merged, total)
        except Exception as exc:  # the model failed: every job of this group says so
            for i in members:
                out[i] = exc
            continue
        start = 0
        for i, job in zip(members, jobs, strict=True):
            stop = start + job.n_rows
            out[i] = result if len(jobs) == 1 else result.rows(start, stop)
            start = stop
        if on_scored is not None:
            try:
                on_scored(model, jobs, merged, result)
            except Exception:  # logging must never fail a prediction
                logger.exception("could not log a batch of %s", model.name)
    return out
