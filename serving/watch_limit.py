"""A bound on gRPC health `Watch` streams: each is an open call the health service keeps forever, outside
the model-call slots, so without a bound a client could open thousands (39 MB per 2,000)."""

from __future__ import annotations

import inspect

import grpc
from grpc_health.v1 import health

WATCH_METHOD = f"/{health.SERVICE_NAME}/Watch"


class WatchLimitInterceptor(grpc.aio.ServerInterceptor):
    """At most `limit` health Watch streams at once; past it a new one gets RESOURCE_EXHAUSTED."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or details.method != WATCH_METHOD:
            return handler
        watch = handler.unary_stream

        async def bounded(request, context: grpc.aio.ServicerContext):
            if self.active >= self.limit:
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, f"the server is running its limit of {self.limit} health Watch streams"
                )
            self.active += 1
            try:
                if inspect.isasyncgenfunction(watch):
                    async for response in watch(request, context):
                        await context.write(response)
                else:  # grpc_health's aio servicer writes through the context itself
                    await watch(request, context)
            finally:
                self.active -= 1

        return grpc.unary_stream_rpc_method_handler(
            bounded, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )
