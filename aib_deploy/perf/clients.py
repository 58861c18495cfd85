"""The requests `aib perf` sends: KServe v2 `ModelInfer` or `ModelStreamInfer` (aib serve, Triton), or aib.v1
`Predict` or `StreamFrames` (aib serve). Each client asks the server what its model takes, so a synthetic
frame has the model's size, and reads the server's own queue and compute times where the protocol has them.
Real frames (`--input-data`) go as they are, each request one frame, in turn."""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import grpc
import numpy as np

from ..contract import FRAMES_INPUT, INPUT_NAME
from ..errors import AibError
from ..protocol.generated import attention_pb2 as pb
from ..protocol.generated import attention_pb2_grpc as pb_grpc
from ..protocol.generated import grpc_service_pb2 as kserve
from ..protocol.generated import grpc_service_pb2_grpc as kserve_grpc
from ..serving.client import open_channel, refusal, wait_ready
from .calls import ChannelPool, RequestCycle
from .frames import InputFrame
from .measure import ServerTimes

CALL_TIMEOUT_S = 60.0
FRAME_SIDE = 256  # the encoded frame's side for a model that takes only `frames` (the server resizes it)


def synthetic_frame(size: int) -> np.ndarray:
    """A fixed noisy BGR frame of the model's size: the same bytes on every run."""
    return (np.random.default_rng(0).random((size, size, 3)) * 255).astype(np.uint8)


def frames_request(model: str, encoded: bytes) -> kserve.ModelInferRequest:
    """One encoded frame as KServe's `frames` input: a BYTES element, length-prefixed in raw_input_contents."""
    tensor = kserve.ModelInferRequest.InferInputTensor(name=FRAMES_INPUT, datatype="BYTES", shape=[1, 1])
    return kserve.ModelInferRequest(
        model_name=model, inputs=[tensor], raw_input_contents=[struct.pack("<I", len(encoded)) + encoded]
    )


@dataclass(frozen=True)
class Connection:
    """A server that answered: its address, the headers of every call (the token), the channel it answered on,
    and how to open another to it."""

    address: str
    headers: list
    channel: grpc.Channel
    another_channel: Callable[[], grpc.Channel]


class KServeClient:
    """One `images` row (float32 noise, the normalized tensor's shape) or one `frames` picture per request."""

    def __init__(
        self, server: Connection, model: str | None, inputs: str, frames: list[InputFrame] | None, streaming: bool
    ) -> None:
        address, headers, another_channel = server.address, server.headers, server.another_channel
        self.address, self.headers = address, headers
        self.stub = kserve_grpc.GRPCInferenceServiceStub(server.channel)
        try:
            self.model = model or self._only_model()
            metadata = self.stub.ModelMetadata(kserve.ModelMetadataRequest(name=self.model), metadata=headers, timeout=30)
        except grpc.RpcError as error:
            raise refusal(address, error, token_given=bool(headers)) from None
        if frames:
            requests = [frames_request(self.model, frame.encoded) for frame in frames]
        elif inputs == "frames":
            size = self._input_size(metadata) if INPUT_NAME in {tensor.name for tensor in metadata.inputs} else FRAME_SIDE
            requests = [frames_request(self.model, cv2.imencode(".png", synthetic_frame(size))[1].tobytes())]
        else:
            size = self._input_size(metadata)
            tensor = kserve.ModelInferRequest.InferInputTensor(name=INPUT_NAME, datatype="FP32", shape=[1, 3, size, size])
            content = np.random.default_rng(0).standard_normal((1, 3, size, size), dtype=np.float32).tobytes()
            requests = [kserve.ModelInferRequest(model_name=self.model, inputs=[tensor], raw_input_contents=[content])]
        self.requests = RequestCycle(
            requests,
            ChannelPool(self.stub, lambda: kserve_grpc.GRPCInferenceServiceStub(another_channel())),
            lambda stub, request: stub.ModelInfer(request, metadata=headers, timeout=CALL_TIMEOUT_S),
            lambda stub, stream: stub.ModelStreamInfer(stream, metadata=headers),
            self._check,
            streaming,
        )

    def _only_model(self) -> str:
        """The name of the one model the server holds (RepositoryIndex); -m is needed when it holds several."""
        try:
            index = self.stub.RepositoryIndex(kserve.RepositoryIndexRequest(ready=True), metadata=self.headers, timeout=30)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                raise AibError(f"server {self.address}: does not list its models; name one with -m") from None
            raise
        names = sorted({model.name for model in index.models})
        if len(names) != 1:
            raise AibError(f"server {self.address}: serves {len(names)} models ({', '.join(names) or 'none'}); name one with -m")
        return names[0]

    def _input_size(self, metadata: kserve.ModelMetadataResponse) -> int:
        shapes = {tensor.name: list(tensor.shape) for tensor in metadata.inputs}
        shape = shapes.get(INPUT_NAME)
        if shape is None or len(shape) != 4 or shape[2] != shape[3] or shape[2] < 1:
            raise AibError(f"model {self.model} on {self.address}: no square 'images' input [N, 3, H, W]; got {shapes}")
        return int(shape[2])

    def _check(self, answer: kserve.ModelInferResponse | kserve.ModelStreamInferResponse) -> None:
        if isinstance(answer, kserve.ModelStreamInferResponse) and answer.error_message:
            raise AibError(f"server {self.address}: {answer.error_message}")

    def server_times(self) -> ServerTimes:
        try:
            request = kserve.ModelStatisticsRequest(name=self.model)
            statistics = self.stub.ModelStatistics(request, metadata=self.headers, timeout=30)
        except grpc.RpcError as error:  # the server went away during the run
            raise AibError(f"server {self.address}: lost while measuring ({error.code().name}: {error.details()})") from None
        inference = statistics.model_stats[0].inference_stats if statistics.model_stats else None
        if inference is None:
            return ServerTimes()
        return ServerTimes(inference.success.count, inference.queue.ns, inference.compute_infer.ns)


def raw_frame(pixels: np.ndarray) -> pb.Frame:
    height, width, channels = pixels.shape
    return pb.Frame(raw=pb.RawImage(data=pixels.tobytes(), height=height, width=width, channels=channels))


class AibV1Client:
    """One frame per request, encoded (`frames`) or as raw pixels (`images`)."""

    def __init__(self, server: Connection, inputs: str, frames: list[InputFrame] | None, streaming: bool) -> None:
        address, headers, another_channel = server.address, server.headers, server.another_channel
        self.address, self.headers = address, headers
        self.stub = pb_grpc.AttentionServiceStub(server.channel)
        try:
            info = self.stub.GetModelInfo(pb.GetModelInfoRequest(), metadata=headers, timeout=30)
        except grpc.RpcError as error:
            raise refusal(address, error, token_given=bool(headers)) from None
        self.model = info.architecture
        frames = frames or [InputFrame("synthetic", pixels=synthetic_frame(info.input_height))]
        if inputs == "frames":
            requests = [pb.Frame(encoded=frame.encoded or cv2.imencode(".png", frame.pixels)[1].tobytes()) for frame in frames]
        else:
            requests = [raw_frame(frame.pixels) for frame in frames]
        self.requests = RequestCycle(
            requests,
            ChannelPool(self.stub, lambda: pb_grpc.AttentionServiceStub(another_channel())),
            lambda stub, request: stub.Predict(request, metadata=headers, timeout=CALL_TIMEOUT_S),
            lambda stub, stream: stub.StreamFrames(stream, metadata=headers),
            self._check,
            streaming,
        )

    def _check(self, result: pb.FrameResult) -> None:
        if result.error:
            raise AibError(f"server {self.address}: {result.error}")

    def server_times(self) -> ServerTimes:
        """Nothing (aib.v1 reports timings per frame, not per model), once the server answers: a server lost
        mid-run ends the run, as over KServe, rather than fail every request after."""
        try:
            self.stub.GetModelInfo(pb.GetModelInfoRequest(), metadata=self.headers, timeout=30)
        except grpc.RpcError as error:
            raise AibError(f"server {self.address}: lost while measuring ({error.code().name}: {error.details()})") from None
        return ServerTimes()


def connect(
    address: str,
    protocol: str,
    model: str | None,
    inputs: str,
    token: str | None,
    tls_ca: str | None,
    timeout_s: float,
    frames: list[InputFrame] | None = None,
    streaming: bool = False,
) -> KServeClient | AibV1Client:
    """A client for the server at ADDRESS, once it answers (one line when it does not within `timeout_s`)."""
    channel = open_channel(address, tls_ca)
    wait_ready(channel, address, timeout_s, tls_ca)
    headers = [("authorization", f"Bearer {token}")] if token else []
    server = Connection(address, headers, channel, functools.partial(open_channel, address, tls_ca))
    if protocol == "aib":
        if model is not None:
            raise AibError("-m: aib.v1 servers hold one model; leave -m out with --protocol aib")
        return AibV1Client(server, inputs, frames, streaming)
    return KServeClient(server, model, inputs, frames, streaming)
