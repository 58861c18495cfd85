"""aib-deploy's frame decoding and preprocessing on Triton's Python backend: the first step of the
ensemble `aib export triton --frames` writes.

`frames` (BYTES [N, 1], one encoded JPEG or PNG per row) in, `images` (FP32 [N, 3, H, W],
normalized NCHW for the model card's input size, mean and std) out, as the model after it takes
them. A request with a frame that cannot be used gets its own error.
"""

import json

# <exporting environment>
import numpy as np
import triton_python_backend_utils as pb_utils

from aib_deploy.card.model_card import ModelCard
from aib_deploy.contract import FRAMES_INPUT, INPUT_NAME, MODEL_CARD_KEY
from aib_deploy.export.triton_python import MAX_PIXELS_KEY, config_parameter
from aib_deploy.protocol.tensors import frame_rows
from aib_deploy.runtime.preprocess import FrameError, Preprocessor


def failure(message: str):
    """A request's own error (gRPC INVALID_ARGUMENT); the other requests are still answered."""
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, pb_utils.TritonError.INVALID_ARG))


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        card = ModelCard.from_json(config_parameter(config, MODEL_CARD_KEY), source=f"model {args['model_name']}")
        self.preprocessor = Preprocessor(card.input_size, card.mean, card.std)
        self.max_pixels = int(config_parameter(config, MAX_PIXELS_KEY))

    def execute(self, requests: list) -> list:
        return [self.preprocess(request) for request in requests]

    def preprocess(self, request):
        data = pb_utils.get_input_tensor_by_name(request, FRAMES_INPUT).as_numpy().reshape(-1)
        try:
            images = [self.preprocessor.frame(frame) for frame in frame_rows(data, self.max_pixels).decoded()]
        except FrameError as error:
            return failure(str(error))
        return pb_utils.InferenceResponse([pb_utils.Tensor(INPUT_NAME, np.stack(images))])
