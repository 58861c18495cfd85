"""Micro-batching across concurrent requests, like Triton's dynamic batcher.

Requests queue up; a worker takes the first, waits at most `max_delay_s` for
more (up to `max_batch`), runs them as one batch on its own thread so the
event loop stays free, and resolves each request's future. It waits only for
frames that are on their way (announced by the service while they decode), so
a lone stream pays no batching delay. With several predictors (`aib serve
--instances N`, like Triton's instance groups) each has its own worker and
thread, and they take batches from the one queue.
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
    def __init__(self, predictors: list[Predictor], max_batch: int = 8, max_delay_s: float = 0.002,
                 metrics: ServerMetrics | None = None) -> None:  # fmt: skip
        self.predictors = predictors
        self.metrics = metrics
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._executors = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"aib-inference-{index}")
                           for index in range(len(predictors))]  # fmt: skip
        self._workers: list[asyncio.Task] = []
        self._outstanding = 0  # announced or submitted, not yet answered
        self._computing = 0  # taken by a worker

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._run(predictor, executor))
                         for predictor, executor in zip(self.predictors, self._executors)]  # fmt: skip

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for executor in self._executors:
            executor.shutdown(wait=True)

    def announce(self) -> None:
        """A frame is on its way (decoding): batches being filled may wait for it."""
        self._outstanding += 1

    def withdraw(self) -> None:
        """An announced frame will not come (it failed to decode, or its caller went away)."""
        self._outstanding -= 1

    async def submit(self, image: np.ndarray, top_k: int, announced: bool = False) -> tuple[Prediction, float]:
        """The prediction for one image and the milliseconds it waited in the queue."""
        future = asyncio.get_running_loop().create_future()
        if not announced:
            self._outstanding += 1  # the worker counts it down when it answers
        await self._queue.put(_Request(image, top_k, future, time.perf_counter()))
        return await future

    async def _collect(self) -> list[_Request]:
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self.max_delay_s
        while len(batch) < self.max_batch:
            if self._queue.empty() and self._outstanding - self._computing <= len(batch):
                break  # nothing else is on its way: do not hold this batch back
            remaining = deadline - time.perf_counter()
            try:
                batch.append(self._queue.get_nowait() if remaining <= 0 else await asyncio.wait_for(self._queue.get(), remaining))
            except (asyncio.QueueEmpty, asyncio.TimeoutError):
                break
        return batch

    async def _run(self, predictor: Predictor, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while True:
            collected = await self._collect()
            batch = [request for request in collected if not request.future.done()]  # callers that went away
            self._outstanding -= len(collected) - len(batch)
            if not batch:
                continue
            started = time.perf_counter()
            top_k = max(request.top_k for request in batch)
            self._computing += len(batch)
            try:
                predictions = await loop.run_in_executor(executor, predictor.predict, [request.image for request in batch], top_k)
            except Exception as error:  # a backend failure answers this batch, the server goes on
                log.exception("inference failed on a batch of %d frames", len(batch))
                predictions = [Prediction(error=f"inference failed: {type(error).__name__}: {error}") for _ in batch]
            finally:
                self._computing -= len(batch)
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
