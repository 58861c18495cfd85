"""aib.v1 results on the wire: anchor indices keep their value past 256 anchors (4 bytes each), and a
result read back is the prediction that was sent."""

import numpy as np
import pytest

from aib_deploy.protocol.aib_v1 import frame_result, prediction_from_result
from aib_deploy.protocol.generated import attention_pb2 as pb
from aib_deploy.runtime import Prediction
from aib_deploy.runtime.result import ClassScore, index_dtype


@pytest.mark.parametrize("anchors, width", [(4, 1), (256, 1), (257, 4), (1000, 4)])
def test_anchor_indices_round_trip_at_the_width_the_anchor_count_needs(anchors, width):
    indices = (np.arange(16 * 16) * 7 % anchors).reshape(16, 16).astype(index_dtype(anchors))
    table = tuple(np.linspace(0, 1, anchors, dtype=np.float32).tolist())
    prediction = Prediction(
        top_k=[ClassScore(1, "b", 0.5)],
        attention=np.asarray(table, np.float32)[indices],
        anchor_index=indices,
        anchors=table,
        batch_size=1,
    )
    result = pb.FrameResult.FromString(frame_result(pb.Frame(stream_id="s"), prediction).SerializeToString())
    assert result.attention.index_bytes == width and len(result.attention.indices) == 16 * 16 * width
    back = prediction_from_result(result)
    np.testing.assert_array_equal(back.anchor_index, indices)
    assert back.anchor_index.max() == indices.max() and back.anchors == pytest.approx(table)
    np.testing.assert_array_equal(back.attention, prediction.attention)


def test_a_result_from_an_older_server_without_index_bytes_reads_as_one_byte_each():
    result = pb.FrameResult(
        attention=pb.AttentionMap(height=2, width=2, values=[0, 1, 1, 0], anchors=[0, 1], indices=bytes([0, 1, 1, 0]))
    )
    np.testing.assert_array_equal(prediction_from_result(result).anchor_index, [[0, 1], [1, 0]])
