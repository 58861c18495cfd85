"""The micro-batcher on its own, with the real predictor (ONNX Runtime, demo model): batch bounds, no wait
for a lone request, and a caller that went away is never computed."""
import asyncio
import logging
import threading

import pytest

from aib_deploy.media.synthetic import make_dataset
from aib_deploy.runtime import RunnerOptions, load_predictor
from aib_deploy.serving.batcher import MicroBatcher
from aib_deploy.serving.metrics import ServerMetrics


@pytest.fixture(scope="module")
def predictor(demo_onnx):
    with load_predictor(demo_onnx, RunnerOptions(threads=1)) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def frames():
    return list(make_dataset(12, 64, seed=3)[0])


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
    sizes = [prediction.batch_size for prediction, _ in answers]
    assert all(prediction.ok and len(prediction.top_k) == 3 for prediction, _ in answers)
    assert max(sizes) == 4 and sorted(set(sizes)) == [2.0, 4.0]  # 10 queued frames: batches of 4, 4 and 2
    expected = [predictor.predict_one(frame).top_k[0].class_index for frame in frames[:10]]
    assert [prediction.top_k[0].class_index for prediction, _ in answers] == expected  # answers go to their callers


def test_a_lone_request_does_not_wait_for_company(predictor, frames):
    async def scenario():
        batcher = MicroBatcher([predictor], max_batch=8, max_delay_s=5.0)
        batcher.start()
        try:
            return await batcher.submit(frames[0], 1)
        finally:
            await batcher.stop()

    prediction, queue_ms = run(scenario())
    assert prediction.ok and prediction.batch_size == 1
    assert queue_ms < 1000  # nowhere near the 5 s it would wait for a second request


def test_a_cancelled_caller_is_not_computed(predictor, frames):
    metrics = ServerMetrics()

    async def scenario():
        batcher = MicroBatcher([predictor], max_batch=8, max_delay_s=0.0, metrics=metrics)
        batcher.start()
        release = threading.Event()
        # Hold the inference thread, so what is submitted next waits in the queue.
        blocker = asyncio.get_running_loop().run_in_executor(batcher._executors[0], release.wait)
        try:
            first = asyncio.ensure_future(batcher.submit(frames[0], 1))
            await asyncio.sleep(0.05)  # the worker takes `first` and waits for the held thread
            gone = asyncio.ensure_future(batcher.submit(frames[1], 1))
            kept = asyncio.ensure_future(batcher.submit(frames[2], 1))
            await asyncio.sleep(0.05)
            gone.cancel()
            release.set()
            await blocker
            answers = await asyncio.gather(first, kept)
            assert gone.cancelled()
            return answers
        finally:
            release.set()
            await batcher.stop()

    (first, _), (kept, _) = run(scenario())
    assert first.ok and kept.ok and kept.batch_size == 1  # `kept` ran alone: `gone` was dropped
    assert computed_frames(metrics) == 2


def test_a_backend_failure_answers_the_batch_and_is_logged_with_its_traceback(demo_onnx, frames, caplog):
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
    assert [prediction.error for prediction, _ in answers] == [
        "inference failed: RuntimeError: onnxruntime: activate() the runner before infer()"] * 2
    (record,) = caplog.records
    assert "inference failed on a batch of 2 frames" in record.getMessage() and record.exc_info is not None


def test_a_batch_waits_for_an_announced_frame_within_the_delay(predictor, frames):
    async def scenario():
        batcher = MicroBatcher([predictor], max_batch=8, max_delay_s=2.0)
        batcher.start()
        try:
            batcher.announce()  # as the service does while a frame decodes
            first = asyncio.ensure_future(batcher.submit(frames[0], 1))
            await asyncio.sleep(0.1)
            second = await batcher.submit(frames[1], 1, announced=True)
            return await first, second
        finally:
            await batcher.stop()

    (first, _), (second, _) = run(scenario())
    assert first.batch_size == second.batch_size == 2


def test_instances_take_batches_from_one_queue(demo_onnx, frames):
    predictors = [load_predictor(demo_onnx, RunnerOptions(threads=1)) for _ in range(2)]
    used = []

    async def scenario():
        batcher = MicroBatcher(predictors, max_batch=2, max_delay_s=0.0)
        batcher.start()
        release = threading.Event()
        blocker = asyncio.get_running_loop().run_in_executor(batcher._executors[0], release.wait)
        try:
            first = asyncio.ensure_future(batcher.submit(frames[0], 1))
            await asyncio.sleep(0.05)  # instance 0 holds `first` behind its busy thread
            second = await asyncio.wait_for(batcher.submit(frames[1], 1), timeout=10)  # instance 1 answers
            used.append(second)
            release.set()
            await blocker
            return await first
        finally:
            release.set()
            await batcher.stop()

    try:
        first, _ = run(scenario())
        assert first.ok and used[0][0].ok
    finally:
        for predictor in predictors:
            predictor.close()
