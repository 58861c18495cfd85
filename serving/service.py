"""The thin servicer: messages to arrays, the batcher does the work, errors stay in-band."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc

from ..card.model_card import ModelCard
from ..contract import STREAM_WINDOW
from ..runtime.predictor import DEFAULT_TOP_K
from ..runtime.preprocess import FrameError
from .batcher import MicroBatcher
from .convert import decode_frame, error_result, frame_result, model_info
from .generated import attention_pb2 as pb
from .generated import attention_pb2_grpc as pb_grpc
from .metrics import ServerMetrics


class AttentionService(pb_grpc.AttentionServiceServicer):
    def __init__(self, batcher: MicroBatcher, card: ModelCard, backend: str, max_pixels: int,
                 metrics: ServerMetrics, default_top_k: int = DEFAULT_TOP_K,
                 stream_window: int = STREAM_WINDOW) -> None:  # fmt: skip
        self.batcher = batcher
        self.metrics = metrics
        self.info = model_info(card, backend)
        self.max_pixels = max_pixels
        self.default_top_k = default_top_k
        self.stream_window = stream_window

    async def GetModelInfo(self, request: pb.GetModelInfoRequest, context: grpc.aio.ServicerContext) -> pb.ModelInfo:
        return self.info

    async def Predict(self, request: pb.Frame, context: grpc.aio.ServicerContext) -> pb.FrameResult:
        return await self._answer(request)

    async def StreamFrames(self, requests: AsyncIterator[pb.Frame],
                           context: grpc.aio.ServicerContext) -> AsyncIterator[pb.FrameResult]:  # fmt: skip
        """Up to `stream_window` frames of a stream are in flight; past that the reader
        stops reading, so gRPC flow control slows the client down instead of dropping frames."""
        pending: asyncio.Queue[asyncio.Task | None] = asyncio.Queue(maxsize=self.stream_window)

        async def read() -> None:
            try:
                async for frame in requests:
                    await pending.put(asyncio.ensure_future(self._answer(frame)))
            finally:
                await pending.put(None)

        reader = asyncio.ensure_future(read())
        try:
            while (task := await pending.get()) is not None:
                yield await task
            await reader
        finally:  # a cancelled call or a passed deadline: frames not yet answered are not computed
            reader.cancel()
            while not pending.empty():
                if (task := pending.get_nowait()) is not None:
                    task.cancel()

    async def _answer(self, frame: pb.Frame) -> pb.FrameResult:
        started = time.perf_counter()
        try:
            image = decode_frame(frame, self.max_pixels)
        except FrameError as error:
            self.metrics.frame(ok=False)
            return error_result(frame, str(error))
        decode_ms = (time.perf_counter() - started) * 1e3
        prediction, queue_ms = await self.batcher.submit(image, frame.top_k or self.default_top_k)
        self.metrics.frame(ok=prediction.ok)
        return frame_result(frame, prediction, decode_ms, queue_ms)


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without `authorization: Bearer <token>`; health checks stay open for probes."""

    OPEN_PREFIXES = ("/grpc.health.v1.Health/",)

    def __init__(self, token: str) -> None:
        self.expected = f"Bearer {token}"

        async def refuse(request, context: grpc.aio.ServicerContext):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

        self._refusals = {
            "unary_unary": grpc.unary_unary_rpc_method_handler(refuse),
            "stream_stream": grpc.stream_stream_rpc_method_handler(refuse),
            "unary_stream": grpc.unary_stream_rpc_method_handler(refuse),
        }

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        metadata = dict(details.invocation_metadata or ())
        if details.method.startswith(self.OPEN_PREFIXES) or metadata.get("authorization") == self.expected:
            return await continuation(details)
        handler = await continuation(details)
        if handler is None:
            return None
        if handler.request_streaming and handler.response_streaming:
            return self._refusals["stream_stream"]
        if handler.response_streaming:
            return self._refusals["unary_stream"]
        return self._refusals["unary_unary"]
