"""How a sender thread of `aib perf` reaches the server: one unary call per request, or (as perf_analyzer's
`--streaming`) one bidirectional stream per thread, a request sent and its answer awaited before the next.
Requests are taken in turn from a fixed list, so real frames cycle through every sender."""

from __future__ import annotations

import contextlib
import itertools
import queue
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import AibError

Call = Callable[[], None]
Sender = Callable[[], contextlib.AbstractContextManager[Call]]  # opened once per sender thread, closed when it stops
END = None  # put on a stream's request queue: the client has no more requests


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
        unary: Callable[[Any], Any],
        open_stream: Callable[[Iterator], Iterator],
        check: Callable[[Any], None],
        streaming: bool,
    ) -> None:
        self._next = itertools.cycle(requests).__next__  # one C call: safe to share between threads
        self._unary, self._open_stream, self._check, self.streaming = unary, open_stream, check, streaming

    def call(self) -> None:
        """One unary request and the check of its answer."""
        self._check(self._unary(self._next()))

    @contextlib.contextmanager
    def sender(self) -> Iterator[Call]:
        """What one sender thread calls per request, for as long as it runs."""
        if not self.streaming:
            yield self.call
            return
        stream = OwnStream(self._open_stream, self._check)
        try:
            yield lambda: stream.send(self._next())
        finally:
            stream.close()
