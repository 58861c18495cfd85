"""FramePipeline on its own, with the real batcher and predictor (ONNX Runtime, demo model): a frame that
cannot be decoded fails alone and leaves no reservation behind, a stream answers in order and gives back its
slot and bytes, and a call past the slot limit is refused with RESOURCE_EXHAUSTED."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import cv2
import grpc
import numpy as np
import pytest

from aib_deploy.media.image_size import decode_wire_image
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.runtime.preprocess import FrameError
from aib_deploy.serving.batcher import MicroBatcher
from aib_deploy.serving.metrics import ServerMetrics
from aib_deploy.serving.options import ServerOptions
from aib_deploy.serving.pipeline import FramePipeline


class Aborted(Exception):
    """What grpc.aio's context.abort raises to end the call."""


class CallContext:
    """The two methods of grpc.aio.ServicerContext the pipeline calls: `abort`, which records and raises, and
    `write`, which records a stream's answers."""

    def __init__(self) -> None:
        self.aborted: tuple[grpc.StatusCode, str] | None = None
        self.written: list = []

    async def write(self, message) -> None:
        self.written.append(message)

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = (code, details)
        raise Aborted(details)


@pytest.fixture(scope="module")
def pictures():
    return [cv2.imencode(".png", frame)[1].tobytes() for frame in make_dataset(4, 64, seed=5)[0]]


def run_with_pipeline(predictor, scenario, **options):
    async def main():
        metrics = ServerMetrics()
        batcher = MicroBatcher([predictor], max_batch=4, max_delay_s=0.001, metrics=metrics)
        batcher.start()
        pool = ThreadPoolExecutor(2)
        pipeline = FramePipeline(batcher, ServerOptions(**options), metrics, pool)
        try:
            return await scenario(pipeline), pipeline
        finally:
            await batcher.stop()
            pool.shutdown()

    return asyncio.run(asyncio.wait_for(main(), timeout=60))


def decoder(data: bytes):
    return lambda: decode_wire_image(data, 1_000_000, "frame")


def test_a_frame_that_cannot_be_decoded_fails_alone_and_leaves_no_reservation(predictor, pictures):
    async def scenario(pipeline):
        frames = [decoder(pictures[0]), decoder(b"\x89PNG\r\n\x1a\nbroken"), decoder(pictures[1])]
        answers = await asyncio.gather(*(pipeline.predict(frame, True, 2, 0) for frame in frames))
        return answers, pipeline.batcher.pending

    (answers, pending), _ = run_with_pipeline(predictor, scenario)
    assert [answer.prediction.ok for answer in answers] == [True, False, True] and pending == 0
    assert answers[1].prediction.error.startswith("frame: PNG") and not answers[1].backend_failed
    assert answers[0].decode_ms > 0 and len(answers[0].prediction.top_k) == 2


def test_a_stream_answers_in_order_and_gives_back_its_slot_and_bytes(predictor, pictures):
    async def requests():
        for index in range(12):
            yield index

    async def answer(index):
        result = await pipeline_ref[0].predict(decoder(pictures[index % len(pictures)]), True, 1, 1000)
        return index, result.prediction.ok

    pipeline_ref = []

    async def scenario(pipeline):
        pipeline_ref.append(pipeline)
        context = CallContext()
        await pipeline.stream(requests(), context, lambda index: 1000, answer)
        return context.written, context.aborted, pipeline.slots.active, pipeline.budget.in_flight

    (answers, aborted, slots, in_flight), _ = run_with_pipeline(predictor, scenario, stream_window=3)
    assert answers == [(index, True) for index in range(12)] and aborted is None
    assert slots == 0 and in_flight == 0


def test_calls_past_the_slot_limit_and_malformed_requests_are_refused_with_their_codes(predictor, pictures):
    from aib_deploy.protocol.malformed import MalformedMessage

    async def scenario(pipeline):
        assert pipeline.slots.try_take()  # the one slot is in use
        full, malformed = CallContext(), CallContext()
        for request, context in ((b"frame", full), (MalformedMessage("aib.v1.Frame", 3, "truncated"), malformed)):
            with pytest.raises(Aborted):
                await pipeline.unary(request, context, len, lambda request: asyncio.sleep(0))
        return full.aborted, malformed.aborted

    (full, malformed), _ = run_with_pipeline(predictor, scenario, max_streams=1)
    assert full[0] == grpc.StatusCode.RESOURCE_EXHAUSTED and "--max-streams" in full[1]
    assert malformed == (grpc.StatusCode.INVALID_ARGUMENT, "a 3-byte message is not a valid aib.v1.Frame: truncated")


def test_a_frame_error_from_the_decoder_is_counted_as_a_failed_frame(predictor):
    def refuse():
        raise FrameError("frame: refused")

    async def scenario(pipeline):
        return await pipeline.predict(refuse, False, 1, 0)

    answer, pipeline = run_with_pipeline(predictor, scenario)
    assert answer.prediction.error == "frame: refused"
    assert pipeline.metrics.registry.get_sample_value("aib_frames_total", {"outcome": "error"}) == 1
    assert np.isclose(answer.queue_ms, 0.0)
