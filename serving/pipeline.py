"""What both protocols (`aib.v1` and KServe v2) share between a request and the batcher.

What one client must not be able to do to the others is bounded here: model
calls at once (`CallSlots`), bytes in flight (`ByteBudget`), streams that send
nothing (the idle timeout), streams whose answers are not read (the write
timeout), messages that do not parse (INVALID_ARGUMENT), and decoding on the
event loop (encoded frames decode in a thread pool, after their header was
checked). A protocol's servicer only turns its messages into frames
and predictions back into its messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc

from ..protocol.malformed import MalformedMessage
from ..runtime import Normalized, Prediction
from ..runtime.predictor import Frame
from ..runtime.preprocess import FrameError
from .batcher import MicroBatcher
from .limits import ByteBudget, CallSlots, DecodeMemory
from .metrics import ServerMetrics
from .options import ServerOptions

log = logging.getLogger(__name__)

SHUTTING_DOWN = "the server is shutting down; every frame it read was answered"
SHUTDOWN_WRITE_S = 1.0  # once the server stops, how long an answer may wait for a client that does not read
WRITE_POLL_S = 0.25  # how often a blocked write looks at the clock and at shutdown


class UnreadAnswers(Exception):
    """A stream's answer could not be written for the write timeout: its client does not read."""


@dataclass
class Answer:
    """One frame's outcome: its prediction (or `error`), the time it took to decode and to wait for a batch,
    and whether the backend failed (a server error) rather than the frame (the client's)."""

    prediction: Prediction
    decode_ms: float = 0.0
    queue_ms: float = 0.0
    backend_failed: bool = False


def settle(read: asyncio.Future | None) -> None:
    """A pending read of a stream that ends while it waits (the client went away, the reader was cancelled) is
    cancelled, and a finished one's end (StopAsyncIteration, a broken connection) is taken, so asyncio does
    not log it as an exception nobody retrieved."""
    if read is None:
        return
    if not read.done():
        read.cancel()
    elif not read.cancelled():
        read.exception()


class FramePipeline:
    def __init__(
        self, batcher: MicroBatcher, options: ServerOptions, metrics: ServerMetrics, decode_pool: ThreadPoolExecutor
    ) -> None:
        self.batcher = batcher
        self.options = options
        self.metrics = metrics
        self.decode_pool = decode_pool
        self.preprocessor = batcher.predictors[0].preprocessor  # every instance shares the model card
        self.slots = CallSlots(options.max_streams)
        self.budget = ByteBudget(options.max_inflight_bytes)
        self.decode_memory = DecodeMemory(options.decode_memory_bytes)
        self.stopping = asyncio.Event()
        self.stopped_at: float | None = None  # the event loop's clock when the shutdown began
        metrics.watch_limits(self.budget, self.slots)

    def begin_shutdown(self) -> None:
        """Streams stop reading, answer what they read (clients that do not read get SHUTDOWN_WRITE_S), and
        end with UNAVAILABLE."""
        self.stopped_at = asyncio.get_running_loop().time()
        self.stopping.set()

    async def write(self, context: grpc.aio.ServicerContext, message: Any) -> None:
        """Write one answer of a stream, or raise UnreadAnswers when the client has not taken it within the
        write timeout (HTTP/2 flow control holds writes to a client that does not read; sending more frames
        would otherwise keep such a stream, its slot and its bytes forever)."""
        loop = asyncio.get_running_loop()
        write = asyncio.ensure_future(context.write(message))
        deadline = loop.time() + self.options.write_timeout_s
        while not (await asyncio.wait({write}, timeout=WRITE_POLL_S))[0]:
            if self.stopped_at is not None:
                deadline = min(deadline, self.stopped_at + SHUTDOWN_WRITE_S)
            if loop.time() >= deadline:
                write.cancel()
                raise UnreadAnswers(
                    f"answers not read for {self.options.write_timeout_s:g} s (--write-timeout-s); the stream was reset"
                )
        write.result()

    async def admit(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        """Take a call slot, or end the call: a request that did not parse, a server shutting down, all slots taken."""
        if isinstance(request, MalformedMessage):
            self.budget.trim_soon()  # its bytes (up to the message limit) were freed just now
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.describe())
        if self.stopping.is_set():
            await context.abort(grpc.StatusCode.UNAVAILABLE, SHUTTING_DOWN)
        if not self.slots.try_take():
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the server is running its limit of {self.slots.limit} model calls (--max-streams); try again later",
            )

    async def unary(
        self, request: Any, context: grpc.aio.ServicerContext, cost: Callable[[Any], int], answer: Callable[[Any], Awaitable[Any]]
    ) -> Any:
        """One request's answer, within a call slot and the byte budget."""
        await self.admit(request, context)
        try:
            taken = await self.budget.acquire(cost(request))
            try:
                return await answer(request)
            finally:
                await self.budget.release(taken)
        finally:
            self.slots.give_back()

    async def predict(self, decode: Callable[[], Frame], in_pool: bool, top_k: int, cost: int) -> Answer:
        """Decode one frame (in the pool for encoded pictures, within the decode memory for its `cost`) and
        have the batcher predict it; a frame that cannot be used gets an error prediction and counts as an error."""
        started = time.perf_counter()
        preprocess_ms = 0.0
        try:
            with self.batcher.reserve() as reservation:  # batches being filled may wait for this frame
                if in_pool:
                    frame, preprocess_ms = await asyncio.get_running_loop().run_in_executor(
                        self.decode_pool, self._network_input, decode, cost
                    )
                else:
                    frame = decode()
                decode_ms = (time.perf_counter() - started) * 1e3 - preprocess_ms
                answer = await reservation.submit(frame, top_k)
        except FrameError as error:
            self.metrics.frame(ok=False)
            return Answer(Prediction(error=str(error)))
        if in_pool and answer.prediction.ok:
            answer.prediction.timings_ms["preprocess"] = preprocess_ms
        self.metrics.frame(ok=answer.prediction.ok)
        return Answer(answer.prediction, decode_ms, answer.queue_ms, answer.backend_failed)

    def _network_input(self, decode: Callable[[], Frame], cost: int) -> tuple[Normalized, float]:
        """Decode a picture and shrink it to the model's input, in the pool, with the preprocessing time: a
        frame waiting for its batch then holds kilobytes, not the decoded picture (up to --max-pixels x 3
        bytes), so a request of many large frames cannot hold a batch of them at once; and the decode
        threads together hold at most --decode-memory-mb of pictures."""
        with self.decode_memory.held(cost):
            picture = decode()
            started = time.perf_counter()
            tensor = self.preprocessor.frame(picture)
        return Normalized(tensor), (time.perf_counter() - started) * 1e3

    async def stream(
        self,
        requests: AsyncIterator[Any],
        context: grpc.aio.ServicerContext,
        cost: Callable[[Any], int],
        answer: Callable[[Any], Awaitable[Any]],
    ) -> None:
        """One answer per request, in order, written to `context`. Up to `stream_window` requests of a stream,
        and the server's byte budget, are in flight; past either the reader stops reading, so gRPC flow
        control slows the client instead of dropping frames. A client that stops reading its answers is
        ended after the write timeout, and its slot and bytes are freed."""
        await self.admit(None, context)
        pending: asyncio.Queue[tuple[asyncio.Task, int] | None] = asyncio.Queue(maxsize=self.options.stream_window)
        ending: list[tuple[grpc.StatusCode, str]] = []
        reader = asyncio.ensure_future(self._read(requests.__aiter__(), pending, ending, cost, answer))
        try:
            while (item := await pending.get()) is not None:
                task, taken = item
                try:
                    await self.write(context, await task)
                finally:
                    await self.budget.release(taken)
            await reader
        except UnreadAnswers as unread:
            # No status can reach a client that does not read (it would queue behind the unread answers):
            # the call is cancelled, which resets the HTTP/2 stream; the client sees CANCELLED. The operator
            # gets the reason in the log.
            self.metrics.unread_stream()
            log.warning("%s: %s", context.peer(), unread)
            raise asyncio.CancelledError from None
        finally:  # a cancelled call or a passed deadline: requests not yet answered are not computed
            reader.cancel()
            while not pending.empty():
                if (item := pending.get_nowait()) is not None:
                    item[0].cancel()
                    await self.budget.release(item[1])
            self.slots.give_back()
        if ending:
            await context.abort(*ending[0])

    async def _read(
        self,
        requests: AsyncIterator,
        pending: asyncio.Queue,
        ending: list,
        cost: Callable[[Any], int],
        answer: Callable[[Any], Awaitable[Any]],
    ) -> None:
        """Read requests until the client is done, goes idle, sends garbage, or the server shuts down."""
        stop = asyncio.ensure_future(self.stopping.wait())
        next_request: asyncio.Future | None = None
        try:
            while True:
                next_request = asyncio.ensure_future(requests.__anext__())
                done, _ = await asyncio.wait(
                    {next_request, stop}, timeout=self.options.idle_timeout_s, return_when=asyncio.FIRST_COMPLETED
                )
                if next_request not in done:
                    next_request.cancel()
                    ending.append(
                        (grpc.StatusCode.UNAVAILABLE, SHUTTING_DOWN)
                        if stop in done
                        else (
                            grpc.StatusCode.DEADLINE_EXCEEDED,
                            f"no frame for {self.options.idle_timeout_s:g} s (--idle-timeout-s); the stream was closed",
                        )
                    )
                    return
                try:
                    request = next_request.result()
                except StopAsyncIteration:
                    return
                if isinstance(request, MalformedMessage):
                    self.budget.trim_soon()
                    ending.append((grpc.StatusCode.INVALID_ARGUMENT, request.describe()))
                    return
                taken = await self.budget.acquire(cost(request))
                await pending.put((asyncio.ensure_future(answer(request)), taken))
        finally:
            stop.cancel()
            settle(next_request)
            await pending.put(None)
