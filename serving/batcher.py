"""Micro-batching across concurrent requests, like Triton's dynamic batcher.

Requests queue up; one worker takes the first, waits at most `max_delay_s` for
more (up to `max_batch`), runs them as one batch on a worker thread so the
event loop stays free, and resolves each request's future. It waits only
while requests it has not yet taken are outstanding, so a lone stream pays
no batching delay.
"""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..runtime import Prediction, Predictor
from .metrics import ServerMetrics

log = logging.getLogger(__name__)


@dataclass
class _Request:
    image: np.ndarray
    top_k: int
    future: asyncio.Future
    enqueued: float


class MicroBatcher:
    def __init__(self, predictor: Predictor, max_batch: int = 8, max_delay_s: float = 0.002,
                 metrics: ServerMetrics | None = None) -> None:  # fmt: skip
        self.predictor = predictor
        self.metrics = metrics
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aib-inference")
        self._worker: asyncio.Task | None = None
        self._outstanding = 0

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, image: np.ndarray, top_k: int) -> tuple[Prediction, float]:
        """The prediction for one image and the milliseconds it waited in the queue."""
        future = asyncio.get_running_loop().create_future()
        self._outstanding += 1  # the worker counts it down when it answers
        await self._queue.put(_Request(image, top_k, future, time.perf_counter()))
        return await future

    async def _collect(self) -> list[_Request]:
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self.max_delay_s
        while len(batch) < self.max_batch:
            if self._queue.empty() and self._outstanding <= len(batch):
                break  # nobody else is waiting: do not hold this batch back
            remaining = deadline - time.perf_counter()
            try:
                batch.append(self._queue.get_nowait() if remaining <= 0 else await asyncio.wait_for(self._queue.get(), remaining))
            except (asyncio.QueueEmpty, asyncio.TimeoutError):
                break
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            collected = await self._collect()
            batch = [request for request in collected if not request.future.done()]  # callers that went away
            self._outstanding -= len(collected) - len(batch)
            if not batch:
                continue
            started = time.perf_counter()
            top_k = max(request.top_k for request in batch)
            try:
                predictions = await loop.run_in_executor(
                    self._executor, self.predictor.predict, [request.image for request in batch], top_k
                )
            except Exception as error:  # a backend failure answers this batch, the server goes on
                log.exception("inference failed on a batch of %d frames", len(batch))
                predictions = [Prediction(error=f"inference failed: {type(error).__name__}: {error}") for _ in batch]
            self._outstanding -= len(batch)
            if self.metrics is not None:
                self.metrics.batch_size.observe(len(batch))
                self.metrics.compute_seconds.observe(time.perf_counter() - started)
                for request in batch:
                    self.metrics.queue_seconds.observe(started - request.enqueued)
            for request, prediction in zip(batch, predictions):
                prediction.top_k = prediction.top_k[: request.top_k]
                if not request.future.done():
                    request.future.set_result((prediction, (started - request.enqueued) * 1e3))
