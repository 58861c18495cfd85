"""The server-wide limits on their own: bytes in flight and call slots."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from aib_deploy.serving.limits import ByteBudget, CallSlots, DecodeMemory


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=10))


def test_the_budget_holds_a_frame_back_until_bytes_are_released():
    async def scenario():
        budget = ByteBudget(100)
        assert await budget.acquire(60) == 60
        waiting = asyncio.ensure_future(budget.acquire(50))
        await asyncio.sleep(0)
        assert not waiting.done() and budget.in_flight == 60
        await budget.release(60)
        assert await waiting == 50 and budget.in_flight == 50
        await budget.release(50)
        return budget.in_flight

    assert run(scenario()) == 0


def test_a_frame_larger_than_the_whole_budget_passes_alone_instead_of_waiting_forever():
    async def scenario():
        budget = ByteBudget(100)
        assert await budget.acquire(500) == 500
        second = asyncio.ensure_future(budget.acquire(1))
        await asyncio.sleep(0)
        assert not second.done()  # nothing else while the oversized frame is in flight
        await budget.release(500)
        return await second

    assert run(scenario()) == 1


@pytest.mark.parametrize("limit", [1, 3])
def test_call_slots_refuse_past_the_limit_and_come_back(limit):
    slots = CallSlots(limit)
    assert all(slots.try_take() for _ in range(limit)) and not slots.try_take()
    slots.give_back()
    assert slots.try_take() and slots.active == limit


def _most_at_once(memory: DecodeMemory, sizes: list[int], together: threading.Barrier | None = None) -> int:
    """Run one pool job per size on 4 threads, each holding its size for a moment (or, with `together`, until
    every thread holds at once); the most bytes held at once."""
    lock, held, most = threading.Lock(), [0], [0]

    def job(size: int) -> None:
        with memory.held(size):
            with lock:
                held[0] += size
                most[0] = max(most[0], held[0])
            if together is None:
                time.sleep(0.02)
            else:
                together.wait(timeout=10)  # broken (the test fails) if the memory kept the threads apart
            with lock:
                held[0] -= size

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(job, sizes))
    assert memory.in_use == 0
    return most[0]


def test_decode_memory_lets_large_pictures_through_one_at_a_time_and_small_ones_together():
    assert _most_at_once(DecodeMemory(100), [60] * 6) == 60  # each over half the limit: alone
    assert _most_at_once(DecodeMemory(100), [250] * 3) == 250  # over the whole limit: alone, not forever
    assert _most_at_once(DecodeMemory(100), [10] * 16, threading.Barrier(4)) == 40  # small ones: every thread at once
