"""The `aib.v1` servicer: Frames to pictures, predictions to FrameResults; the pipeline does the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import grpc

from ..card.model_card import ModelCard
from ..protocol.aib_v1 import decode_frame, frame_cost, frame_result, model_info
from ..protocol.generated import attention_pb2 as pb
from ..protocol.malformed import MalformedMessage, tolerant_parser
from ..protocol.wire_bounds import StructureLimits
from ..runtime.predictor import DEFAULT_TOP_K
from .pipeline import FramePipeline


class AttentionService:
    def __init__(self, pipeline: FramePipeline, card: ModelCard, backend: str) -> None:
        self.pipeline = pipeline
        self.info = model_info(card, backend)
        self.cost = partial(frame_cost, max_pixels=pipeline.options.max_pixels)

    async def GetModelInfo(
        self, request: pb.GetModelInfoRequest | MalformedMessage, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        if isinstance(request, MalformedMessage):  # as the KServe calls refuse bytes that do not parse
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.describe())
        return self.info

    async def Predict(self, request: pb.Frame | MalformedMessage, context: grpc.aio.ServicerContext) -> pb.FrameResult:
        return await self.pipeline.unary(request, context, self.cost, self._answer)

    async def StreamFrames(self, requests: AsyncIterator[pb.Frame | MalformedMessage], context: grpc.aio.ServicerContext) -> None:
        """One FrameResult per Frame, written by the pipeline (which bounds how long a write may wait)."""
        await self.pipeline.stream(requests, context, self.cost, self._answer)

    async def _answer(self, frame: pb.Frame) -> pb.FrameResult:
        decode = partial(decode_frame, frame, self.pipeline.options.max_pixels)
        encoded = frame.WhichOneof("image") == "encoded"
        answer = await self.pipeline.predict(decode, encoded, frame.top_k or DEFAULT_TOP_K, self.cost(frame))
        return frame_result(frame, answer.prediction, answer.decode_ms, answer.queue_ms)


def add_attention_service(service: AttentionService, server: grpc.aio.Server, limits: StructureLimits) -> None:
    """Register the service as the generated `add_AttentionServiceServicer_to_server` would, but with
    request parsers that hand malformed or over-limit bytes to the servicer (INVALID_ARGUMENT) instead of
    failing in gRPC."""
    frame = tolerant_parser(pb.Frame, limits)
    handlers = {
        "GetModelInfo": grpc.unary_unary_rpc_method_handler(
            service.GetModelInfo,
            request_deserializer=tolerant_parser(pb.GetModelInfoRequest, limits),
            response_serializer=pb.ModelInfo.SerializeToString,
        ),
        "Predict": grpc.unary_unary_rpc_method_handler(
            service.Predict, request_deserializer=frame, response_serializer=pb.FrameResult.SerializeToString
        ),
        "StreamFrames": grpc.stream_stream_rpc_method_handler(
            service.StreamFrames, request_deserializer=frame, response_serializer=pb.FrameResult.SerializeToString
        ),
    }
    name = pb.DESCRIPTOR.services_by_name["AttentionService"].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
