"""Bearer-token authentication for every service on the server (both protocols)."""

from __future__ import annotations

import hmac

import grpc


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without `authorization: Bearer <token>` (the scheme in any case, RFC 7235), except
    `open_methods` (method paths or their prefixes): health checks stay open for probes."""

    def __init__(self, token: str, open_methods: tuple[str, ...]) -> None:
        self.token = token.encode()
        self.open_methods = open_methods

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
        if details.method.startswith(self.open_methods) or self.allows(metadata.get("authorization")):
            return await continuation(details)
        handler = await continuation(details)
        if handler is None:
            return None
        if handler.request_streaming and handler.response_streaming:
            return self._refusals["stream_stream"]
        if handler.response_streaming:
            return self._refusals["unary_stream"]
        return self._refusals["unary_unary"]
