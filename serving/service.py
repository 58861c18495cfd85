"""The thin servicer: messages to arrays, the batcher does the work, errors stay in-band.

What one client must not be able to do to the others is bounded here: model
calls at once (`CallSlots`), bytes in flight (`ByteBudget`), streams that send
nothing (the idle timeout), messages that do not parse (INVALID_ARGUMENT), and
decoding on the event loop (encoded frames decode in a thread pool, after their
header was checked).
"""
from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import grpc

from ..card.model_card import ModelCard
from ..runtime.predictor import DEFAULT_TOP_K
from ..runtime.preprocess import FrameError
from .batcher import MicroBatcher
from .convert import MalformedMessage, decode_frame, error_result, frame_cost, frame_result, model_info, tolerant_parser
from .generated import attention_pb2 as pb
from .limits import ByteBudget, CallSlots
from .metrics import ServerMetrics
from .options import ServerOptions

SHUTTING_DOWN = "the server is shutting down; every frame it read was answered"


class AttentionService:
    def __init__(self, batcher: MicroBatcher, card: ModelCard, backend: str, options: ServerOptions,
                 metrics: ServerMetrics, decode_pool: ThreadPoolExecutor) -> None:  # fmt: skip
        self.batcher = batcher
        self.metrics = metrics
        self.info = model_info(card, backend)
        self.options = options
        self.decode_pool = decode_pool
        self.slots = CallSlots(options.max_streams)
        self.budget = ByteBudget(options.max_inflight_bytes)
        self.stopping = asyncio.Event()
        metrics.watch_limits(self.budget, self.slots)

    def begin_shutdown(self) -> None:
        """Streams stop reading, answer what they read, and end with UNAVAILABLE."""
        self.stopping.set()

    async def GetModelInfo(self, request: pb.GetModelInfoRequest, context: grpc.aio.ServicerContext) -> pb.ModelInfo:
        return self.info

    async def Predict(self, request: pb.Frame | MalformedMessage, context: grpc.aio.ServicerContext) -> pb.FrameResult:
        await self._admit(request, context)
        try:
            cost = await self.budget.acquire(frame_cost(request, self.options.max_pixels))
            try:
                return await self._answer(request)
            finally:
                await self.budget.release(cost)
        finally:
            self.slots.give_back()

    async def StreamFrames(self, requests: AsyncIterator[pb.Frame | MalformedMessage],
                           context: grpc.aio.ServicerContext) -> AsyncIterator[pb.FrameResult]:  # fmt: skip
        """Up to `stream_window` frames of a stream, and the server's byte budget, are in flight; past
        either the reader stops reading, so gRPC flow control slows the client instead of dropping frames."""
        await self._admit(None, context)
        pending: asyncio.Queue[tuple[asyncio.Task, int] | None] = asyncio.Queue(maxsize=self.options.stream_window)
        ending: list[tuple[grpc.StatusCode, str]] = []
        reader = asyncio.ensure_future(self._read(requests.__aiter__(), pending, ending))
        try:
            while (item := await pending.get()) is not None:
                task, cost = item
                try:
                    yield await task
                finally:
                    await self.budget.release(cost)
            await reader
        finally:  # a cancelled call or a passed deadline: frames not yet answered are not computed
            reader.cancel()
            while not pending.empty():
                if (item := pending.get_nowait()) is not None:
                    item[0].cancel()
                    await self.budget.release(item[1])
            self.slots.give_back()
        if ending:
            await context.abort(*ending[0])

    async def _read(self, frames: AsyncIterator, pending: asyncio.Queue, ending: list) -> None:
        """Read frames until the client is done, goes idle, sends garbage, or the server shuts down."""
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            while True:
                next_frame = asyncio.ensure_future(frames.__anext__())
                done, _ = await asyncio.wait({next_frame, stop}, timeout=self.options.idle_timeout_s,
                                             return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                if next_frame not in done:
                    next_frame.cancel()
                    ending.append((grpc.StatusCode.UNAVAILABLE, SHUTTING_DOWN) if stop in done else (
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"no frame for {self.options.idle_timeout_s:g} s (--idle-timeout-s); the stream was closed"))
                    return
                try:
                    frame = next_frame.result()
                except StopAsyncIteration:
                    return
                if isinstance(frame, MalformedMessage):
                    ending.append((grpc.StatusCode.INVALID_ARGUMENT, frame.describe()))
                    return
                cost = await self.budget.acquire(frame_cost(frame, self.options.max_pixels))
                await pending.put((asyncio.ensure_future(self._answer(frame)), cost))
        finally:
            stop.cancel()
            await pending.put(None)

    async def _admit(self, request: pb.Frame | MalformedMessage | None, context: grpc.aio.ServicerContext) -> None:
        if isinstance(request, MalformedMessage):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.describe())
        if self.stopping.is_set():
            await context.abort(grpc.StatusCode.UNAVAILABLE, SHUTTING_DOWN)
        if not self.slots.try_take():
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"the server is running its limit of {self.slots.limit} model calls (--max-streams); "
                                "try again later")  # fmt: skip

    async def _answer(self, frame: pb.Frame) -> pb.FrameResult:
        started = time.perf_counter()
        self.batcher.announce()  # batches being filled may wait for this frame while it decodes
        submitted = False
        try:
            if frame.WhichOneof("image") == "encoded":
                loop = asyncio.get_running_loop()
                image = await loop.run_in_executor(self.decode_pool, decode_frame, frame, self.options.max_pixels)
            else:
                image = decode_frame(frame, self.options.max_pixels)
            decode_ms = (time.perf_counter() - started) * 1e3
            submitted = True
            prediction, queue_ms = await self.batcher.submit(image, frame.top_k or DEFAULT_TOP_K, announced=True)
        except FrameError as error:
            self.metrics.frame(ok=False)
            return error_result(frame, str(error))
        finally:
            if not submitted:
                self.batcher.withdraw()
        self.metrics.frame(ok=prediction.ok)
        return frame_result(frame, prediction, decode_ms, queue_ms)


def add_attention_service(service: AttentionService, server: grpc.aio.Server) -> None:
    """Register the service as the generated `add_AttentionServiceServicer_to_server` would, but with
    request parsers that hand malformed bytes to the servicer (INVALID_ARGUMENT) instead of failing in gRPC."""
    frame = tolerant_parser(pb.Frame)
    handlers = {
        "GetModelInfo": grpc.unary_unary_rpc_method_handler(
            service.GetModelInfo, request_deserializer=tolerant_parser(pb.GetModelInfoRequest),
            response_serializer=pb.ModelInfo.SerializeToString),
        "Predict": grpc.unary_unary_rpc_method_handler(
            service.Predict, request_deserializer=frame, response_serializer=pb.FrameResult.SerializeToString),
        "StreamFrames": grpc.stream_stream_rpc_method_handler(
            service.StreamFrames, request_deserializer=frame, response_serializer=pb.FrameResult.SerializeToString),
    }  # fmt: skip
    name = pb.DESCRIPTOR.services_by_name["AttentionService"].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without `authorization: Bearer <token>` (the scheme in any case, RFC 7235);
    health checks stay open for probes."""

    OPEN_PREFIXES = ("/grpc.health.v1.Health/",)

    def __init__(self, token: str) -> None:
        self.token = token.encode()

        async def refuse(request, context: grpc.aio.ServicerContext):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

        self._refusals = {
            "unary_unary": grpc.unary_unary_rpc_method_handler(refuse),
            "stream_stream": grpc.stream_stream_rpc_method_handler(refuse),
            "unary_stream": grpc.unary_stream_rpc_method_handler(refuse),
        }

    def allows(self, header: str | None) -> bool:
        scheme, _, credentials = (header or "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self.token)

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        metadata = dict(details.invocation_metadata or ())
        if details.method.startswith(self.OPEN_PREFIXES) or self.allows(metadata.get("authorization")):
            return await continuation(details)
        handler = await continuation(details)
        if handler is None:
            return None
        if handler.request_streaming and handler.response_streaming:
            return self._refusals["stream_stream"]
        if handler.response_streaming:
            return self._refusals["unary_stream"]
        return self._refusals["unary_unary"]
