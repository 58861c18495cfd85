"""Micro-batching across concurrent requests, like Triton's dynamic batcher.

Requests queue up; a worker takes the first, waits at most `max_delay_s` for
more (up to `max_batch`), runs them as one batch on its own thread so the
event loop stays free, and resolves each request's future. It waits only for
frames that are on their way (a `Reservation` held while a frame decodes), so
a lone stream pays no batching delay. With several predictors (`aib serve
--instances N`, like Triton's instance groups) each has its own worker and
thread, and they take batches from the one queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..contract import BATCH_DELAY_MS
from ..runtime import Prediction, Predictor
from ..runtime.predictor import Frame
from .metrics import ServerMetrics
from .options import MICRO_BATCH

log = logging.getLogger(__name__)


@dataclass
class BatchAnswer:
    """One frame's prediction, the milliseconds it waited for its batch, and whether the backend failed on the
    batch (a server error, where a frame's own error is the client's)."""

    prediction: Prediction
    queue_ms: float
    backend_failed: bool = False


@dataclass
class _Request:
    image: Frame
    top_k: int
    future: asyncio.Future
    enqueued: float


@dataclass
class BatchStatistics:
    """Totals since start, in Triton's terms (KServe's ModelStatistics): frames computed (inferences),
    batches run (executions), and the compute time of each batch size."""

    inferences: int = 0
    executions: int = 0
    failures: int = 0
    queue_ns: int = 0
    compute_ns: int = 0
    last_inference_ms: int = 0
    by_size: dict[int, list[int]] = field(default_factory=dict)  # batch size -> [executions, compute ns]

    def record(self, frames: int, failed: bool, queue_ns: int, compute_ns: int) -> None:
        self.executions += 1
        if failed:
            self.failures += frames
        else:
            self.inferences += frames
        self.queue_ns += queue_ns
        self.compute_ns += compute_ns
        self.last_inference_ms = time.time_ns() // 1_000_000
        counts = self.by_size.setdefault(frames, [0, 0])
        counts[0] += 1
        counts[1] += compute_ns


class Reservation:
    """A frame on its way to the batcher (decoding): batches being filled may wait for it. Leaving the `with`
    block without `submit` withdraws it, whatever ended the block."""

    def __init__(self, batcher: MicroBatcher) -> None:
        self._batcher = batcher
        self._open = False

    def __enter__(self) -> Reservation:
        self._batcher._outstanding += 1
        self._open = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._open:
            self._batcher._outstanding -= 1
            self._batcher._withdrawn.set()
            self._open = False

    async def submit(self, image: Frame, top_k: int) -> BatchAnswer:
        """The frame's answer; from here the worker counts it down when it answers."""
        if not self._open:
            raise RuntimeError("Reservation.submit: use it once, inside its `with` block")
        self._open = False
        return await self._batcher._enqueue(image, top_k)


class MicroBatcher:
    def __init__(
        self,
        predictors: list[Predictor],
        max_batch: int = MICRO_BATCH,
        max_delay_s: float = BATCH_DELAY_MS / 1e3,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.predictors = predictors
        self.metrics = metrics
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"aib-inference-{index}") for index in range(len(predictors))
        ]
        self._workers: list[asyncio.Task] = []
        self._outstanding = 0  # reserved or submitted, not yet answered
        self._withdrawn = asyncio.Event()  # a reservation left without a frame: a batch being filled may stop waiting
        self._computing = 0  # taken by a worker
        self.statistics = BatchStatistics()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._workers = [
            loop.create_task(self._run(predictor, executor)) for predictor, executor in zip(self.predictors, self._executors)
        ]

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for executor in self._executors:
            executor.shutdown(wait=True)

    @property
    def pending(self) -> int:
        """Frames reserved or submitted and not yet answered."""
        return self._outstanding

    @property
    def queued(self) -> int:
        """Frames submitted and not yet taken into a batch."""
        return self._queue.qsize()

    def reserve(self) -> Reservation:
        """A place for a frame that is still decoding: `with batcher.reserve() as r: ... await r.submit(...)`."""
        return Reservation(self)

    async def submit(self, image: Frame, top_k: int) -> BatchAnswer:
        """The answer for one frame that is ready now."""
        with self.reserve() as reservation:
            return await reservation.submit(image, top_k)

    async def _enqueue(self, image: Frame, top_k: int) -> BatchAnswer:
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(image, top_k, future, time.perf_counter()))
        return await future

    async def _collect(self) -> list[_Request]:
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self.max_delay_s
        while len(batch) < self.max_batch:
            if self._queue.empty() and self._outstanding - self._computing <= len(batch):
                break  # nothing else is on its way: do not hold this batch back
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                if self._queue.empty():
                    break
                batch.append(self._queue.get_nowait())
                continue
            request = await self._next_or_withdrawal(remaining)
            if request is not None:
                batch.append(request)
        return batch

    async def _next_or_withdrawal(self, timeout_s: float) -> _Request | None:
        """The next request, or None once a reservation is withdrawn (the batch may stop waiting) or time is up."""
        self._withdrawn.clear()
        getter = asyncio.ensure_future(self._queue.get())
        withdrawal = asyncio.ensure_future(self._withdrawn.wait())
        await asyncio.wait({getter, withdrawal}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        withdrawal.cancel()
        getter.cancel()
        return getter.result() if getter.done() and not getter.cancelled() else None

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
            failed = False
            try:
                predictions = await loop.run_in_executor(executor, predictor.predict, [request.image for request in batch], top_k)
            except Exception as error:  # a backend failure answers this batch, the server goes on
                log.exception("inference failed on a batch of %d frames", len(batch))
                predictions = [Prediction(error=f"inference failed: {type(error).__name__}: {error}") for _ in batch]
                failed = True
            finally:
                self._computing -= len(batch)
                self._outstanding -= len(batch)
            computed = time.perf_counter()
            self.statistics.record(
                len(batch),
                failed,
                round(sum(started - request.enqueued for request in batch) * 1e9),
                round((computed - started) * 1e9),
            )
            if self.metrics is not None:
                self.metrics.batch_size.observe(len(batch))
                self.metrics.compute_seconds.observe(computed - started)
                for request in batch:
                    self.metrics.queue_seconds.observe(started - request.enqueued)
            for request, prediction in zip(batch, predictions):
                prediction.top_k = prediction.top_k[: request.top_k]
                if not request.future.done():
                    request.future.set_result(BatchAnswer(prediction, (started - request.enqueued) * 1e3, failed))
