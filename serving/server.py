"""Server lifecycle: build, warm up, report SERVING, stop gracefully on SIGTERM/SIGINT."""
from __future__ import annotations

import asyncio
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..errors import AibError
from ..runtime import Predictor
from ..runtime.predictor import check_batch_limit
from .batcher import MicroBatcher
from .generated import attention_pb2 as pb
from .generated import attention_pb2_grpc as pb_grpc
from .metrics import ServerMetrics
from .options import ServerOptions
from .service import AttentionService, BearerTokenInterceptor

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["AttentionService"].full_name
WARMUP_FRAMES = 3


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    batcher: MicroBatcher
    health: health.aio.HealthServicer
    metrics_port: int | None = None

    async def stop(self, grace_s: float) -> None:
        """Refuse new calls, let calls in flight finish (up to grace_s), then stop the batcher."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        await self.batcher.stop()


def warm_up(predictor: Predictor) -> None:
    size = predictor.card.input_size
    predictor.predict([np.zeros((size, size, 3), np.uint8)] * WARMUP_FRAMES)


def server_credentials(options: ServerOptions) -> grpc.ServerCredentials | None:
    if options.tls_cert is None and options.tls_key is None:
        return None
    if options.tls_cert is None or options.tls_key is None:
        raise AibError("--tls-cert and --tls-key go together")
    try:
        return grpc.ssl_server_credentials([(Path(options.tls_key).read_bytes(), Path(options.tls_cert).read_bytes())])
    except OSError as error:
        raise AibError(f"TLS: cannot read {error.filename}: {error.strerror}") from None


async def create_server(predictor: Predictor, options: ServerOptions) -> RunningServer:
    """A started server on options.host:options.port (0 picks a free port), reporting SERVING."""
    max_batch = check_batch_limit(options.max_batch, predictor.max_batch)
    interceptors = [BearerTokenInterceptor(options.token)] if options.token else []
    server = grpc.aio.server(
        interceptors=interceptors,
        maximum_concurrent_rpcs=options.max_streams,
        options=[
            ("grpc.max_receive_message_length", options.max_message_bytes),
            ("grpc.max_send_message_length", options.max_message_bytes),
        ],
    )
    metrics = ServerMetrics()
    batcher = MicroBatcher(predictor, max_batch, options.max_delay_ms / 1e3, metrics)
    batcher.start()
    service = AttentionService(batcher, predictor.card, predictor.backend, options.max_pixels, metrics,
                               stream_window=options.stream_window)  # fmt: skip
    pb_grpc.add_AttentionServiceServicer_to_server(service, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{options.host}:{options.port}"
    credentials = server_credentials(options)
    try:
        port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError as error:
        raise AibError(f"serve: cannot listen on {address}: {error}") from None
    await server.start()
    metrics_port = None
    if options.metrics_port is not None:
        try:
            metrics_port = metrics.serve(options.host, options.metrics_port)
        except OSError as error:
            raise AibError(f"serve: cannot serve metrics on {options.host}:{options.metrics_port}: {error.strerror}") from None
    warm_up(predictor)
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, port, batcher, health_servicer, metrics_port)


async def serve_until_signalled(predictor: Predictor, options: ServerOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running = await create_server(predictor, options)
    scheme = "tls" if options.tls_cert else "insecure"
    auth = "bearer token" if options.token else "no token"
    metrics = f", metrics on :{running.metrics_port}/metrics" if running.metrics_port else ""
    print(f"aib serve: listening on {options.host}:{running.port} ({scheme}, {auth}, backend {predictor.backend}, "
          f"{predictor.card.architecture.name}{metrics})", flush=True)  # fmt: skip
    await stop.wait()
    print("aib serve: stopping; answering the frames already received", flush=True)
    await running.stop(options.grace_s)
    print("aib serve: stopped", flush=True)


class BackgroundServer:
    """A server on its own event-loop thread, for callers that are not async (the demo, benchmarks)."""

    def __init__(self, predictor: Predictor, options: ServerOptions) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="aib-server", daemon=True)
        self.thread.start()
        self.running = asyncio.run_coroutine_threadsafe(create_server(predictor, options), self.loop).result()
        self.address = f"{options.host}:{self.running.port}"

    def stop(self, grace_s: float = 5.0) -> None:
        asyncio.run_coroutine_threadsafe(self.running.stop(grace_s), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
