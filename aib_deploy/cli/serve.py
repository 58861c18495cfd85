"""`aib serve MODEL`: the gRPC server until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging

from ..serving.options import LOOPBACK, ServerOptions
from .options import (
    add_runner_options,
    add_serving_limits,
    add_token_option,
    megabytes,
    optional_path,
    port_number,
    runner_options,
    token,
)
from .paths import InputPath, ModelPath, plain_value


def add_serve_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve a model over gRPC: predictions and attention masks for frames",
        description="gRPC services aib.v1.AttentionService (GetModelInfo, Predict, StreamFrames) and the KServe v2 "
        "inference protocol (inference.GRPCInferenceService, as Triton: ModelInfer, ModelStreamInfer, metadata, "
        "config, statistics; inputs `images` or `frames`) on one port, with health checking and reflection, "
        "micro-batching across streams and protocols, and graceful shutdown on SIGTERM/SIGINT. "
        "Binds to loopback unless --host says otherwise.",
    )
    parser.add_argument(
        "model", type=ModelPath(), help="an exported .onnx file, a checkpoint for the PyTorch backend, or an engine"
    )
    parser.add_argument(
        "--host", type=plain_value, default=ServerOptions.host, help=f"address to bind (default {LOOPBACK}, loopback only)"
    )
    parser.add_argument(
        "--port", type=port_number, default=ServerOptions.port, help=f"port (default {ServerOptions.port}; 0 picks a free one)"
    )
    add_runner_options(parser)
    add_serving_limits(parser)
    security = parser.add_argument_group("security")
    add_token_option(security, "require `authorization: Bearer TOKEN`")
    security.add_argument("--tls-cert", type=InputPath(), help="PEM certificate chain; with --tls-key serves TLS")
    security.add_argument("--tls-key", type=InputPath(), help="PEM private key")
    parser.add_argument(
        "--metrics-port",
        type=port_number,
        help="serve Prometheus metrics on this port (0: a free one), on --host, as plain HTTP without auth",
    )
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> None:
    from ..runtime import load_predictor
    from ..serving.server import serve_until_signalled

    # Backend failures are logged with their traceback; clients get one line in-band.
    logging.basicConfig(level=logging.INFO, format="aib serve: %(levelname)s %(name)s: %(message)s")
    options = ServerOptions(
        host=args.host,
        port=args.port,
        max_batch=args.max_batch,
        max_delay_ms=args.max_delay_ms,
        max_streams=args.max_streams,
        max_pixels=args.max_pixels,
        max_inflight_bytes=megabytes(args.max_inflight_mb),
        idle_timeout_s=args.idle_timeout_s,
        write_timeout_s=args.write_timeout_s,
        max_repeated=args.max_repeated,
        max_fields=args.max_fields,
        decode_threads=args.decode_threads,
        decode_memory_bytes=megabytes(args.decode_memory_mb),
        instances=args.instances,
        token=token(args),
        tls_cert=optional_path(args.tls_cert),
        tls_key=optional_path(args.tls_key),
        metrics_port=args.metrics_port,
    )
    options.validate()  # before loading the model, which can take long
    predictors = [load_predictor(args.model, runner_options(args, spinning=False)) for _ in range(options.instances)]
    try:
        asyncio.run(serve_until_signalled(predictors, options))
    finally:
        for predictor in predictors:
            predictor.close()
