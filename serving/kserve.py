"""The KServe v2 inference protocol (`inference.GRPCInferenceService`, Triton's and KServe's) on `aib serve`.

Same port, same pipeline as `aib.v1`: the micro-batcher, token, TLS and every limit apply alike. A
client written for Triton (tritonclient, perf tooling, KServe) talks to `aib serve` unchanged.
`RepositoryIndex` lists the one model, so clients can find its name; loading and unloading models,
shared-memory, trace and log calls are not served (UNIMPLEMENTED, as a Triton built without them
answers).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from .. import __version__
from ..contract import MODEL_CARD_KEY
from ..protocol.generated import grpc_service_pb2 as kserve
from ..protocol.generated import model_config_pb2 as config_pb
from ..protocol.kserve import InferCall, check_model, infer_response, model_metadata, parse_infer
from ..protocol.malformed import MalformedMessage, tolerant_parser
from ..protocol.signature import ModelSignature
from ..protocol.tensors import RequestError, echoed
from ..protocol.triton_config import Scheduling, model_config
from ..protocol.wire_bounds import StructureLimits
from .batcher import BatchStatistics
from .pipeline import FramePipeline

SERVICE_NAME = kserve.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
# Probes need no token, as gRPC health: a readiness check must not need the secret the model calls do.
OPEN_METHODS = tuple(f"/{SERVICE_NAME}/{method}" for method in ("ServerLive", "ServerReady", "ModelReady"))
EXTENSIONS = ("classification", "model_configuration", "statistics")


class KserveService:
    def __init__(
        self,
        pipeline: FramePipeline,
        signature: ModelSignature,
        backend: str,
        config: config_pb.ModelConfig,
        statistics: BatchStatistics,
    ) -> None:
        """`backend`: the runner's name (onnxruntime, pytorch, tensorrt), published as the platform."""
        self.pipeline = pipeline
        self.signature = signature
        self.statistics = statistics
        self.metadata = model_metadata(signature, f"aib_deploy_{backend}")
        self.config = config

    async def ServerLive(self, request, context) -> kserve.ServerLiveResponse:
        return kserve.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context) -> kserve.ServerReadyResponse:
        return kserve.ServerReadyResponse(ready=not self.pipeline.stopping.is_set())

    async def ModelReady(self, request, context) -> kserve.ModelReadyResponse:
        served = self.signature.serves(request.name, request.version)
        return kserve.ModelReadyResponse(ready=served and not self.pipeline.stopping.is_set())

    async def ServerMetadata(self, request, context) -> kserve.ServerMetadataResponse:
        return kserve.ServerMetadataResponse(name="aib-deploy", version=__version__, extensions=EXTENSIONS)

    async def ModelMetadata(self, request, context) -> kserve.ModelMetadataResponse:
        await self._check_model(request, context)
        return self.metadata

    async def ModelConfig(self, request, context) -> kserve.ModelConfigResponse:
        await self._check_model(request, context)
        return kserve.ModelConfigResponse(config=self.config)

    async def RepositoryIndex(self, request, context) -> kserve.RepositoryIndexResponse:
        """The one model this server holds, so a client (aib perf, Triton's tools) can find its name."""
        ready = not self.pipeline.stopping.is_set()
        state = "READY" if ready else "UNAVAILABLE"
        model = kserve.RepositoryIndexResponse.ModelIndex(name=self.signature.name, version=self.signature.version, state=state)
        return kserve.RepositoryIndexResponse(models=[model] if ready or not request.ready else [])

    async def ModelStatistics(self, request, context) -> kserve.ModelStatisticsResponse:
        if request.name:
            await self._check_model(request, context)
        return kserve.ModelStatisticsResponse(model_stats=[self._statistics()])

    async def ModelInfer(self, request, context) -> kserve.ModelInferResponse:
        if not isinstance(request, MalformedMessage):
            try:
                request = parse_infer(request, self.signature, self.pipeline.options.max_pixels)
            except RequestError as error:
                await context.abort(error.code, str(error))
        response = await self.pipeline.unary(request, context, call_cost, self._answer)
        if isinstance(response, RequestError):
            await context.abort(response.code, str(response))
        return response

    async def ModelStreamInfer(self, requests: AsyncIterator, context) -> None:
        """One response per request, in order, written by the pipeline; a request that fails gets
        `error_message` naming its id, and the stream goes on."""
        await self.pipeline.stream(self._parsed(requests), context, call_cost, self._stream_answer)

    async def _parsed(self, requests: AsyncIterator) -> AsyncIterator[InferCall | RequestError | MalformedMessage]:
        async for request in requests:
            if isinstance(request, MalformedMessage):
                yield request
                continue
            try:
                yield parse_infer(request, self.signature, self.pipeline.options.max_pixels)
            except RequestError as error:
                yield RequestError(f"request {echoed(request.id)}: {error}", error.code)

    async def _stream_answer(self, item: InferCall | RequestError) -> kserve.ModelStreamInferResponse:
        response = item if isinstance(item, RequestError) else await self._answer(item)
        if isinstance(response, RequestError):
            return kserve.ModelStreamInferResponse(error_message=str(response))
        return kserve.ModelStreamInferResponse(infer_response=response)

    async def _answer(self, call: InferCall) -> kserve.ModelInferResponse | RequestError:
        """Every row through the batcher (rows of one request and of others batch together); the first row
        that fails fails the request, as a Triton model would."""
        top_k = max([*call.outputs.values(), 1])
        rows = call.rows
        answers = await asyncio.gather(
            *(self.pipeline.predict(row, rows.encoded, top_k, cost) for row, cost in zip(rows.decoders, rows.costs))
        )
        for answer in answers:
            if not answer.prediction.ok:
                code = grpc.StatusCode.INTERNAL if answer.backend_failed else grpc.StatusCode.INVALID_ARGUMENT
                prefix = f"request {echoed(call.request_id)}: " if call.request_id else ""
                return RequestError(prefix + answer.prediction.error, code)
        return infer_response(call, [answer.prediction for answer in answers], self.signature)

    async def _check_model(self, request, context) -> None:
        try:
            check_model(request.name, request.version, self.signature)
        except RequestError as error:
            await context.abort(error.code, str(error))

    def _statistics(self) -> kserve.ModelStatistics:
        stats = self.statistics
        duration = kserve.StatisticDuration
        return kserve.ModelStatistics(
            name=self.signature.name,
            version=self.signature.version,
            last_inference=stats.last_inference_ms,
            inference_count=stats.inferences,
            execution_count=stats.executions,
            inference_stats=kserve.InferStatistics(
                success=duration(count=stats.inferences, ns=stats.compute_ns + stats.queue_ns),
                fail=duration(count=stats.failures),
                queue=duration(count=stats.inferences, ns=stats.queue_ns),
                compute_infer=duration(count=stats.inferences, ns=stats.compute_ns),
            ),
            batch_stats=[
                kserve.InferBatchStatistics(batch_size=size, compute_infer=duration(count=count, ns=ns))
                for size, (count, ns) in sorted(stats.by_size.items())
            ],
        )


def call_cost(item: InferCall | RequestError | MalformedMessage) -> int:
    """Bytes a streamed request holds in flight: its rows' (a refused one holds none)."""
    return item.rows.cost if isinstance(item, InferCall) else 0


def served_model_config(signature: ModelSignature, on_gpu: bool, instances: int, max_delay_ms: float) -> config_pb.ModelConfig:
    """`aib serve`'s model as Triton's model-configuration extension describes it: both inputs, each optional."""
    scheduling = Scheduling(round(max_delay_ms * 1000), instances, "gpu" if on_gpu else "cpu")
    return model_config(
        signature.name,
        signature.max_batch,
        signature.either_input,
        signature.outputs,
        {MODEL_CARD_KEY: signature.card.to_json()},
        backend="aib_deploy",
        scheduling=scheduling,
    )


def add_kserve_service(service: KserveService, server: grpc.aio.Server, limits: StructureLimits) -> None:
    """Register the protocol's methods, each with a request parser that hands malformed or over-limit
    bytes to the servicer (INVALID_ARGUMENT) instead of failing inside gRPC."""
    unary = {
        "ServerLive": kserve.ServerLiveRequest,
        "ServerReady": kserve.ServerReadyRequest,
        "ModelReady": kserve.ModelReadyRequest,
        "ServerMetadata": kserve.ServerMetadataRequest,
        "ModelMetadata": kserve.ModelMetadataRequest,
        "ModelConfig": kserve.ModelConfigRequest,
        "ModelStatistics": kserve.ModelStatisticsRequest,
        "RepositoryIndex": kserve.RepositoryIndexRequest,
        "ModelInfer": kserve.ModelInferRequest,
    }
    methods = kserve.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods_by_name
    handlers = {}
    for name, message in unary.items():
        reply = getattr(kserve, methods[name].output_type.name)
        handlers[name] = grpc.unary_unary_rpc_method_handler(
            _refusing_malformed(getattr(service, name)) if name != "ModelInfer" else service.ModelInfer,
            request_deserializer=tolerant_parser(message, limits),
            response_serializer=reply.SerializeToString,
        )
    handlers["ModelStreamInfer"] = grpc.stream_stream_rpc_method_handler(
        service.ModelStreamInfer,
        request_deserializer=tolerant_parser(kserve.ModelInferRequest, limits),
        response_serializer=kserve.ModelStreamInferResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))


def _refusing_malformed(method):
    async def handle(request, context):
        if isinstance(request, MalformedMessage):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.describe())
        return await method(request, context)

    return handle
