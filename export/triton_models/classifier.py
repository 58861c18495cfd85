"""An aib-deploy model on Triton's Python backend, written by `aib export triton --backend python`.

Runs the ONNX file beside this one through aib-deploy's Predictor on ONNX Runtime: the CPU for
KIND_CPU instances, the CUDA provider on the instance's GPU for KIND_GPU. Each request carries one
of two inputs:
- `images`: FP32 [N, 3, H, W], normalized NCHW, exactly as the ONNX model takes it;
- `frames`: BYTES [N, 1], one encoded JPEG or PNG per row, decoded and preprocessed here.
The outputs are the ONNX contract's: `logits`, `attention` and, for quantized models,
`attention_index`. Triton batches requests (dynamic batching); they run as one batch, and a request
with a row that cannot be used gets its own error while the others are answered.
"""

import json
import os
from pathlib import Path

# <exporting environment>
import numpy as np
import triton_python_backend_utils as pb_utils

from aib_deploy.contract import FRAMES_INPUT, INPUT_NAME
from aib_deploy.export.triton_python import MAX_PIXELS_KEY, config_parameter
from aib_deploy.protocol.signature import ModelSignature
from aib_deploy.protocol.tensors import frame_rows, image_rows, one_input_error, output_tensors
from aib_deploy.runtime import RunnerOptions, load_predictor
from aib_deploy.runtime.preprocess import FrameError

THREADS_KEY = "intra_op_thread_count"  # the parameter Triton's own ONNX Runtime backend reads


def failure(message: str):
    """A request's own error (gRPC INVALID_ARGUMENT); the other requests of the batch are still answered."""
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, pb_utils.TritonError.INVALID_ARG))


def select_gpu(device_id: str) -> None:
    """Let ONNX Runtime's CUDA provider see the instance's GPU only (ids count within CUDA_VISIBLE_DEVICES)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = visible.split(",")[int(device_id)] if visible else device_id


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        self.max_pixels = int(config_parameter(config, MAX_PIXELS_KEY))
        device = "cpu"
        if args["model_instance_kind"] == "GPU":
            select_gpu(args["model_instance_device_id"])
            device = "cuda"
        threads = config_parameter(config, THREADS_KEY)
        options = RunnerOptions(device=device, threads=int(threads) if threads else None, spinning=False)
        self.predictor = load_predictor(Path(__file__).with_name("model.onnx"), options)
        self.signature = ModelSignature(self.predictor.card, args["model_name"], int(config["max_batch_size"]))

    def execute(self, requests: list) -> list:
        """The rows of all requests in one Predictor call; each request is answered with its own rows."""
        rows, spans, errors = [], [], {}
        for number, request in enumerate(requests):
            try:
                name, frames = self.rows(request)
            except FrameError as error:
                errors[number] = str(error)
                continue
            spans.append((number, name, len(rows), len(rows) + len(frames)))
            rows.extend(frames)
        predictions = self.predictor.predict(rows) if rows else []
        responses = [None] * len(requests)
        for number, name, start, stop in spans:
            failed = [f"{name}[{row}]: {p.error}" for row, p in enumerate(predictions[start:stop]) if p.error]
            if failed:
                errors[number] = failed[0]
            else:
                responses[number] = self.response(predictions[start:stop])
        for number, message in errors.items():
            responses[number] = failure(message)
        return responses

    def rows(self, request) -> tuple[str, list]:
        """The request's rows: Normalized tensors from `images`, or decoded frames from `frames`."""
        images = pb_utils.get_input_tensor_by_name(request, INPUT_NAME)
        frames = pb_utils.get_input_tensor_by_name(request, FRAMES_INPUT)
        if (images is None) == (frames is None):
            raise one_input_error(self.signature, "both" if images is not None else "neither")
        if images is not None:
            rows = image_rows(images.as_numpy())
        else:
            rows = frame_rows(frames.as_numpy().reshape(-1), self.max_pixels)
        return rows.input, rows.decoded()

    def response(self, predictions: list):
        tensors = output_tensors(predictions, self.signature)
        return pb_utils.InferenceResponse([pb_utils.Tensor(name, np.ascontiguousarray(value)) for name, value in tensors.items()])

    def finalize(self) -> None:
        self.predictor.close()
