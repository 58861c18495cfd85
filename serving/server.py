"""Server lifecycle: build, warm up, report SERVING, stop gracefully on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import ssl
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..errors import AibError
from ..protocol.generated import attention_pb2 as pb
from ..protocol.signature import ModelSignature
from ..runtime import Predictor
from ..runtime.predictor import check_batch_limit
from .auth import BearerTokenInterceptor
from .batcher import MicroBatcher
from .kserve import OPEN_METHODS, KserveService, add_kserve_service, served_model_config
from .kserve import SERVICE_NAME as KSERVE_SERVICE_NAME
from .limits import unmap_large_blocks_when_freed
from .metrics import ServerMetrics
from .options import MAX_HEALTH_WATCHES, MICRO_BATCH, ServerOptions, host_port
from .pipeline import FramePipeline
from .service import AttentionService, add_attention_service
from .watch_limit import WatchLimitInterceptor

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["AttentionService"].full_name
WARMUP_FRAMES = 3
EXIT_FORCED = 130
FINAL_WRITES_S = 0.5  # once every model call has ended: how long the last statuses get to go out


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    pipeline: FramePipeline
    model_name: str
    batcher: MicroBatcher
    health: health.aio.HealthServicer
    decode_pool: ThreadPoolExecutor
    metrics: ServerMetrics
    metrics_port: int | None = None

    async def stop(self, grace_s: float) -> None:
        """Report NOT_SERVING, stop reading frames, answer every frame already read (up to grace_s), stop.

        The wait is for model calls, not for gRPC calls: a stream whose client does not read gives its slot
        back within SHUTDOWN_WRITE_S, while its HTTP/2 stream would hold gRPC's own grace to the end."""
        await self.health.enter_graceful_shutdown()
        self.pipeline.begin_shutdown()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.pipeline.slots.idle.wait(), grace_s)
        await self.server.stop(min(grace_s, FINAL_WRITES_S))
        await self.batcher.stop()
        self.decode_pool.shutdown(wait=True)
        self.metrics.shutdown()


def warm_up(predictor: Predictor) -> None:
    size = predictor.card.input_size
    predictor.predict([np.zeros((size, size, 3), np.uint8)] * WARMUP_FRAMES)


def read_pem(path: Path, flag: str, marker: bytes, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise AibError(f"{flag} {path}: cannot read it ({error.strerror})") from None
    if b"-----BEGIN " not in data or marker not in data:
        raise AibError(f"{flag} {path}: not a PEM {what}")
    return data


def server_credentials(options: ServerOptions) -> grpc.ServerCredentials | None:
    """TLS credentials, checked here: gRPC itself would only say "Failed to bind" for any bad file."""
    if options.tls_cert is None:
        return None
    certificate = read_pem(options.tls_cert, "--tls-cert", b"CERTIFICATE", "certificate chain")
    key = read_pem(options.tls_key, "--tls-key", b"PRIVATE KEY", "private key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(options.tls_cert, options.tls_key)
    except ssl.SSLError as error:
        raise AibError(
            f"--tls-cert {options.tls_cert} / --tls-key {options.tls_key}: the key does not belong to the "
            f"certificate, or one of them is corrupt ({error.reason or error})"
        ) from None
    return grpc.ssl_server_credentials([(key, certificate)])


def check_port_free(host: str, port: int) -> None:
    """Resolve the host and bind the address once ourselves (port 0: resolve only): gRPC would log its own
    multi-line complaint before failing."""
    try:
        addresses = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise AibError(f"--host {host}: not an address of this machine ({error.strerror})") from None
    for family, kind, protocol, _, address in addresses:  # port 0 too: that binding tells a foreign host
        with socket.socket(family, kind, protocol) as probe:
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRNOTAVAIL:
                    raise AibError(f"--host {host}: not an address of this machine ({error.strerror})") from None
                raise AibError(f"--port {port}: cannot listen on {host}:{port} ({error.strerror})") from None


async def create_server(predictors: list[Predictor], options: ServerOptions) -> RunningServer:
    """A started server on options.host:options.port (0 picks a free port), reporting SERVING.

    Every option is checked before anything listens, so a bad one leaves nothing running. Several
    predictors of one model (`--instances`) share the batch queue, each on its own thread."""
    options.validate()
    predictor = predictors[0]
    if options.max_batch is None:
        max_batch = min(MICRO_BATCH, predictor.max_batch)
    else:
        max_batch = check_batch_limit(options.max_batch, predictor.max_batch)
    credentials = server_credentials(options)
    check_port_free(options.host, options.port)
    unmap_large_blocks_when_freed()
    metrics = ServerMetrics()
    metrics_port = None if options.metrics_port is None else metrics.serve(options.host, options.metrics_port)
    open_methods = (f"/{health.SERVICE_NAME}/", *OPEN_METHODS)
    interceptors = [BearerTokenInterceptor(options.token, open_methods)] if options.token else []
    interceptors.append(WatchLimitInterceptor(MAX_HEALTH_WATCHES))
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", options.max_message_bytes),
            ("grpc.max_send_message_length", options.max_message_bytes),
            ("grpc.so_reuseport", 0),  # a second server on a busy port must fail, not split the clients
        ],
    )
    address = host_port(options.host, options.port)
    try:
        port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError:
        metrics.shutdown()
        raise AibError(
            f"--host {options.host} --port {options.port}: cannot listen on {address} (in use, or not an address of this machine)"
        ) from None
    decode_pool = ThreadPoolExecutor(max_workers=options.decode_threads, thread_name_prefix="aib-decode")
    batcher = MicroBatcher(predictors, max_batch, options.max_delay_ms / 1e3, metrics)
    pipeline = FramePipeline(batcher, options, metrics, decode_pool)
    limits = options.structure_limits(predictor.max_batch)
    add_attention_service(AttentionService(pipeline, predictor.card, predictor.backend), server, limits)
    runner = predictor.runner
    signature = ModelSignature.of(predictor.card, runner.precision, predictor.max_batch)
    config = served_model_config(signature, runner.on_gpu, len(predictors), options.max_delay_ms)
    add_kserve_service(KserveService(pipeline, signature, runner.name, config, batcher.statistics), server, limits)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    services = (SERVICE_NAME, KSERVE_SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(services, server)
    await server.start()
    batcher.start()
    for each in predictors:
        warm_up(each)
    for name in ("", SERVICE_NAME, KSERVE_SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, port, pipeline, signature.name, batcher, health_servicer, decode_pool, metrics, metrics_port)


async def serve_until_signalled(predictors: list[Predictor], options: ServerOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running = await create_server(predictors, options)
    predictor = predictors[0]
    scheme = "tls" if options.tls_cert else "insecure"
    auth = "bearer token" if options.token else "no token"
    metrics = f", metrics on :{running.metrics_port}/metrics" if running.metrics_port is not None else ""
    print(
        f"aib serve: listening on {host_port(options.host, running.port)} ({scheme}, {auth}, backend {predictor.backend}, "
        f"{predictor.card.architecture.name}, {len(predictors)} instance(s){metrics}); protocols aib.v1 and "
        f"KServe v2 (model {running.model_name!r})",
        flush=True,
    )
    await stop.wait()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, force_exit)
    print("aib serve: stopping; answering the frames already read (a second signal forces the exit)", flush=True)
    await running.stop(options.grace_s)
    print("aib serve: stopped", flush=True)


def force_exit() -> None:
    print("aib serve: forced to exit before every frame was answered", file=sys.stderr, flush=True)
    os._exit(EXIT_FORCED)


class BackgroundServer:
    """A server on its own event-loop thread, for callers that are not async (the demo, benchmarks)."""

    def __init__(self, predictors: list[Predictor], options: ServerOptions) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="aib-server", daemon=True)
        self.thread.start()
        self.running = asyncio.run_coroutine_threadsafe(create_server(predictors, options), self.loop).result()
        self.address = host_port(options.host, self.running.port)

    def stop(self, grace_s: float = 5.0) -> None:
        asyncio.run_coroutine_threadsafe(self.running.stop(grace_s), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
