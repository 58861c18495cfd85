"""The micro-batcher on its own, with the real predictor (ONNX Runtime, demo model): batch bounds, no wait
for a lone request, a reserved frame is waited for and a withdrawn one is not, and a caller that went away is
never computed. Ordering is made by events and the batcher's public queue count, not by sleeps."""

import asyncio
import logging
import threading

import pytest

from aib_deploy.media.synthetic import make_dataset
from aib_deploy.runtime import RunnerOptions, load_predictor
from aib_deploy.serving.batcher import MicroBatcher
from aib_deploy.serving.metrics import ServerMetrics


@pytest.fixture(scope="module")
def frames():
    return list(make_dataset(12, 64, seed=3)[0])


class HeldPredictor:
    """A real predictor whose calls wait until released: holds the inference thread so that what is submitted
    next stays in the queue. `entered` is set when a call starts."""

    def __init__(self, predictor) -> None:
        self.predictor = predictor
        self.entered = threading.Event()
        self.release = threading.Event()

    def predict(self, frames, top_k):
        self.entered.set()
        self.release.wait(timeout=30)
        return self.predictor.predict(frames, top_k)


async def until(condition, timeout_s: float = 10.0) -> None:
    """Yield to the event loop until `condition()` holds."""

    async def poll():
        while not condition():
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), timeout_s)


def computed_frames(metrics: ServerMetrics) -> float:
    """Frames that reached the model, from the batch-size histogram's sum."""
    return metrics.registry.get_sample_value("aib_batch_size_sum") or 0.0


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=60))


def test_batches_never_exceed_max_batch_and_fill_up_when_requests_wait(predictor, frames):
    async def scenario():
        batcher = MicroBatcher([predictor], max_batch=4, max_delay_s=0.05)
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(frame, 3) for frame in frames[:10]))
        finally:
            await batcher.stop()

    answers = run(scenario())
    sizes = [answer.prediction.batch_size for answer in answers]
    assert all(answer.prediction.ok and len(answer.prediction.top_k) == 3 for answer in answers)
    assert max(sizes) == 4 and sorted(set(sizes)) == [2.0, 4.0]  # 10 queued frames: batches of 4, 4 and 2
    expected = [predictor.predict_one(frame).top_k[0].class_index for frame in frames[:10]]
    assert [answer.prediction.top_k[0].class_index for answer in answers] == expected  # answers go to their callers


def test_a_lone_request_does_not_wait_for_company(predictor, frames):
    async def scenario():
        batcher = MicroBatcher([predictor], max_batch=8, max_delay_s=5.0)
        batcher.start()
        try:
            return await batcher.submit(frames[0], 1)
        finally:
            await batcher.stop()

    answer = run(scenario())
    assert answer.prediction.ok and answer.prediction.batch_size == 1 and not answer.backend_failed
    assert answer.queue_ms < 1000  # nowhere near the 5 s it would wait for a second request


def test_a_cancelled_caller_is_not_computed(predictor, frames):
    metrics = ServerMetrics()
    held = HeldPredictor(predictor)

    async def scenario():
        batcher = MicroBatcher([held], max_batch=8, max_delay_s=0.0, metrics=metrics)
        batcher.start()
        try:
            first = asyncio.ensure_future(batcher.submit(frames[0], 1))
            await asyncio.get_running_loop().run_in_executor(None, held.entered.wait, 10)  # `first` holds the thread
            gone = asyncio.ensure_future(batcher.submit(frames[1], 1))
            kept = asyncio.ensure_future(batcher.submit(frames[2], 1))
            await until(lambda: batcher.queued == 2)
            gone.cancel()
            held.release.set()
            answers = await asyncio.gather(first, kept)
            assert gone.cancelled()
            return answers
        finally:
            held.release.set()
            await batcher.stop()

    first, kept = run(scenario())
    assert first.prediction.ok and kept.prediction.ok and kept.prediction.batch_size == 1  # `gone` was dropped
    assert computed_frames(metrics) == 2


def test_a_backend_failure_answers_the_batch_flagged_and_is_logged_with_its_traceback(demo_onnx, frames, caplog):
    closed = load_predictor(demo_onnx, RunnerOptions(threads=1))
    closed.close()  # its runner now refuses to infer: a real backend failure

    async def scenario():
        batcher = MicroBatcher([closed], max_batch=2, max_delay_s=0.0)
        batcher.start()
        try:
            return await asyncio.gather(batcher.submit(frames[0], 1), batcher.submit(frames[1], 1))
        finally:
            await batcher.stop()

    with caplog.at_level(logging.ERROR, logger="aib_deploy.serving.batcher"):
        answers = run(scenario())
    assert [answer.prediction.error for answer in answers] == [
        "inference failed: RuntimeError: onnxruntime: activate() the runner before infer()"
    ] * 2
    assert all(answer.backend_failed for answer in answers)  # a server error, typed: not read off the message
    (record,) = caplog.records
    assert "inference failed on a batch of 2 frames" in record.getMessage() and record.exc_info is not None


def test_a_batch_waits_for_a_reserved_frame_within_the_delay(predictor, frames):
    async def scenario():
        batcher = MicroBatcher([predictor], max_batch=8, max_delay_s=5.0)
        batcher.start()
        try:
            with batcher.reserve() as reservation:  # as the pipeline does while a frame decodes
                first = asyncio.ensure_future(batcher.submit(frames[0], 1))
                await until(lambda: batcher.pending == 2 and batcher.queued == 0)  # the worker took `first`
                second = await reservation.submit(frames[1], 1)
            return await first, second
        finally:
            await batcher.stop()

    first, second = run(scenario())
    assert first.prediction.batch_size == second.prediction.batch_size == 2


def test_a_withdrawn_reservation_is_not_waited_for(predictor, frames):
    """A frame that fails to decode leaves its `with` block by an exception: the batch being filled goes
    without it at once instead of waiting out the (here 5 s) delay."""

    async def scenario():
        batcher = MicroBatcher([predictor], max_batch=8, max_delay_s=5.0)
        batcher.start()
        try:
            decoded = asyncio.Event()

            async def failing_decode():
                with batcher.reserve():  # as the pipeline holds it while the frame decodes
                    await decoded.wait()
                    raise ValueError("corrupt frame")

            decoding = asyncio.ensure_future(failing_decode())
            await until(lambda: batcher.pending == 1)
            first = asyncio.ensure_future(batcher.submit(frames[0], 1))
            await until(lambda: batcher.pending == 2 and batcher.queued == 0)  # the worker holds `first`, waiting
            decoded.set()
            with pytest.raises(ValueError):
                await decoding
            return await asyncio.wait_for(first, timeout=2.5)
        finally:
            await batcher.stop()

    answer = run(scenario())
    assert answer.prediction.ok and answer.prediction.batch_size == 1


def test_a_reservation_submits_once(predictor, frames):
    async def scenario():
        batcher = MicroBatcher([predictor], max_batch=8, max_delay_s=0.0)
        batcher.start()
        try:
            with batcher.reserve() as reservation:
                await reservation.submit(frames[0], 1)
                with pytest.raises(RuntimeError, match="use it once"):
                    await reservation.submit(frames[1], 1)
        finally:
            await batcher.stop()

    run(scenario())


def test_instances_take_batches_from_one_queue(demo_onnx, frames):
    predictors = [load_predictor(demo_onnx, RunnerOptions(threads=1)) for _ in range(2)]
    held = HeldPredictor(predictors[0])

    async def scenario():
        batcher = MicroBatcher([held, predictors[1]], max_batch=2, max_delay_s=0.0)
        batcher.start()
        try:
            first = asyncio.ensure_future(batcher.submit(frames[0], 1))
            await asyncio.get_running_loop().run_in_executor(None, held.entered.wait, 10)  # instance 0 is busy
            second = await asyncio.wait_for(batcher.submit(frames[1], 1), timeout=10)  # instance 1 answers
            assert not first.done()
            held.release.set()
            return await first, second
        finally:
            held.release.set()
            await batcher.stop()

    try:
        first, second = run(scenario())
        assert first.prediction.ok and second.prediction.ok
    finally:
        for predictor in predictors:
            predictor.close()
