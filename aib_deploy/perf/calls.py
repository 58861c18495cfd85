"""How a sender thread of `aib perf` reaches the server: one unary call per request, or (as perf_analyzer's
`--streaming`) one bidirectional stream per thread, a request sent and its answer awaited before the next.
Requests are taken in turn from a fixed list, so real frames cycle through every sender. Senders share
channels (connections) as perf_analyzer's do: at most SENDERS_PER_CHANNEL on one."""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import AibError

Call = Callable[[], None]
Sender = Callable[[], contextlib.AbstractContextManager[Call]]  # opened once per sender thread, closed when it stops
END = None  # put on a stream's request queue: the client has no more requests
# Triton's C++ client, which perf_analyzer uses, shares a gRPC channel among at most this many clients
# (TRITON_CLIENT_GRPC_CHANNEL_MAX_SHARE_COUNT's default): concurrent requests spread over connections.
SENDERS_PER_CHANNEL = 6


class ChannelPool:
    """Stubs on channels to one server, each channel used by at most SENDERS_PER_CHANNEL senders at a time;
    a channel is opened when every open one is full, and kept for the next level."""

    def __init__(self, first_stub: Any, open_stub: Callable[[], Any]) -> None:
        self._open_stub = open_stub
        self._stubs, self._users = [first_stub], [0]
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def stub(self) -> Iterator[Any]:
        with self._lock:
            index = next((i for i, users in enumerate(self._users) if users < SENDERS_PER_CHANNEL), len(self._users))
            if index == len(self._stubs):
                self._stubs.append(self._open_stub())
                self._users.append(0)
            self._users[index] += 1
        try:
            yield self._stubs[index]
        finally:
            with self._lock:
                self._users[index] -= 1


class OwnStream:
    """One thread's bidirectional stream. A stream the server broke is opened again for the next request,
    so one failure costs one request, as a unary failure does."""

    def __init__(self, open_stream: Callable[[Iterator], Iterator], check: Callable[[Any], None]) -> None:
        self._open_stream, self._check = open_stream, check
        self._requests: queue.SimpleQueue | None = None
        self._answers: Any = None  # the gRPC call: an iterator of answers that can be cancelled

    def send(self, request: Any) -> None:
        if self._answers is None:
            self._requests = queue.SimpleQueue()
            self._answers = self._open_stream(iter(self._requests.get, END))
        self._requests.put(request)
        try:
            answer = next(self._answers)
        except StopIteration:
            self.close()
            raise AibError("the server ended the stream") from None
        except Exception:
            self.close()
            raise
        self._check(answer)

    def close(self) -> None:
        if self._answers is not None:
            self._requests.put(END)
            self._answers.cancel()
            self._answers = None


class RequestCycle:
    """The requests, each sent in turn by whichever thread asks next, unary or on the thread's stream."""

    def __init__(
        self,
        requests: list,
        channels: ChannelPool,
        unary: Callable[[Any, Any], Any],
        open_stream: Callable[[Any, Iterator], Iterator],
        check: Callable[[Any], None],
        streaming: bool,
    ) -> None:
        """`unary(stub, request)` answers one request; `open_stream(stub, requests)` opens a stream."""
        self._next = itertools.cycle(requests).__next__  # one C call: safe to share between threads
        self._channels = channels
        self._unary, self._open_stream, self._check, self.streaming = unary, open_stream, check, streaming

    @contextlib.contextmanager
    def sender(self) -> Iterator[Call]:
        """What one sender thread calls per request, for as long as it runs."""
        with self._channels.stub() as stub:
            if not self.streaming:
                yield lambda: self._check(self._unary(stub, self._next()))
                return
            stream = OwnStream(lambda requests: self._open_stream(stub, requests), self._check)
            try:
                yield lambda: stream.send(self._next())
            finally:
                stream.close()
