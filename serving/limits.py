"""Server-wide limits that one client cannot exhaust: bytes in flight and concurrent model calls.

Both are asyncio objects of the server's event loop. A stream that cannot get
bytes waits before it reads its next frame, so gRPC's flow control slows its
client down; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager

TRIM_DELAY_S = 0.5
LARGE_BLOCK_BYTES = 1 << 20  # a block this large (a decoded picture, a big message) gets its own mapping
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def fits(in_use: int, size: int, limit: int) -> bool:
    """The admission rule of both byte limits: `size` more fits under `limit`, or nothing is held (so a
    request larger than the whole limit passes alone instead of waiting forever)."""
    return in_use == 0 or in_use + size <= limit


def _libc_function(name: str):
    """A function of the C library the process runs on, or None where it has no such symbol (not glibc)."""
    return getattr(ctypes.CDLL(None), name, None)  # the process's own symbols, libc's among them


def return_free_memory() -> None:
    """Give freed heap memory back to the system: glibc keeps freed arenas mapped, so after a burst of
    large frames the server would stay at its peak (malloc_trim; a no-op where the C library lacks it)."""
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim(0)


def unmap_large_blocks_when_freed() -> None:
    """Have glibc map every block of LARGE_BLOCK_BYTES or more on its own and unmap it when it is freed.
    By default the threshold rises to the largest block freed so far (up to 32 MiB), after which decoded
    pictures come from the heap and stay resident once freed, until a trim: the server's memory between
    requests would be its worst request's. Fixing the threshold also fixes the heap's trim threshold."""
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)
        mallopt(M_TRIM_THRESHOLD, 2 * LARGE_BLOCK_BYTES)


class ByteBudget:
    """At most `limit` bytes of frames in flight across all streams.

    A frame larger than the whole budget is let through when nothing else is in
    flight, so it is answered (or refused by the other limits) instead of waiting forever.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._changed = asyncio.Condition()
        self._trim: asyncio.TimerHandle | None = None

    async def acquire(self, size: int) -> int:
        """Wait until `size` bytes fit; return what was taken (pass it to `release`)."""
        async with self._changed:
            await self._changed.wait_for(lambda: fits(self.in_flight, size, self.limit))
            self.in_flight += size
        return size

    async def release(self, size: int) -> None:
        async with self._changed:
            self.in_flight -= size
            self._changed.notify_all()
        if self.in_flight == 0:
            self.trim_soon()

    def trim_soon(self) -> None:
        """Return freed memory to the system once traffic pauses (after frames, or a refused large message)."""
        if self._trim is None:
            self._trim = asyncio.get_running_loop().call_later(TRIM_DELAY_S, self._trim_if_idle)

    def _trim_if_idle(self) -> None:
        """Once traffic has paused for a moment, hand the memory the frames used back to the system."""
        self._trim = None
        if self.in_flight == 0:
            return_free_memory()


class CallSlots:
    """At most `limit` model calls (streams and unary predictions) at once; health and metadata need none."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.idle = asyncio.Event()  # set while no model call runs: what a shutdown waits for
        self.idle.set()

    def try_take(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        self.idle.clear()
        return True

    def give_back(self) -> None:
        self.active -= 1
        if self.active == 0:
            self.idle.set()


class DecodeMemory:
    """At most `limit` bytes of pictures being decoded and shrunk at once, across the decode threads; a larger
    picture decodes alone. Without it every decode thread may hold a picture at the pixel limit at once,
    whatever the byte budget (a request larger than the budget is let through alone)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self._changed = threading.Condition()

    @contextmanager
    def held(self, size: int) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: fits(self.in_use, size, self.limit))
            self.in_use += size
        try:
            yield
        finally:
            with self._changed:
                self.in_use -= size
                self._changed.notify_all()
