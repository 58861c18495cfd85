"""The contract every part of aib-deploy shares, defined once: tensor names, the
model card's key, the opset, batch sizes and wire limits.

The ONNX contract (exported files, engines, Triton and the servers follow it):
- input `images`: float32 [N, 3, H, W], normalized RGB, dynamic N;
- output `logits`: float32 [N, num_classes];
- output `attention`: float32 [N, 1, A, A], anchor values for quantized models;
- output `attention_index`: int32 [N, 1, A, A], quantized models only;
- `metadata_props[MODEL_CARD_KEY]`: the JSON model card.
"""

from __future__ import annotations

INPUT_NAME = "images"
# The servers' other input (aib serve's KServe v2 endpoint, Triton Python-backend models and ensembles):
# BYTES [N, 1], one encoded JPEG or PNG per row, decoded and preprocessed on the server.
FRAMES_INPUT = "frames"
OUTPUT_NAMES = ("logits", "attention", "attention_index")
ATTENTION_OUTPUTS = ("attention", "attention_index")
MODEL_CARD_KEY = "aib_deploy.model_card"

BATCH_DIM = "batch"  # the name of the exported files' dynamic first dimension

DEFAULT_OPSET = 18
MIN_OPSET = 18  # the torch.export-based exporter emits opset 18 and newer

# The largest batch a model advertises when its card says nothing else: the card's
# default at export, the TensorRT profile's default maximum, Triton's max_batch_size.
DEFAULT_MAX_BATCH = 32

# The version a server publishes a model under: Triton's first version folder, `aib serve`'s KServe v2 model.
MODEL_VERSION = 1

# Longest wait to fill a batch: `aib serve`'s micro-batcher and Triton's dynamic batcher.
BATCH_DELAY_MS = 2.0

# Class names, one per line, beside a Triton model (and named in `aib serve`'s model config) for Triton's
# classification extension on `logits`.
LABELS_FILE = "labels.txt"

# The largest picture aib-deploy decodes, from a file, a video or the wire (a server's --max-pixels may lower
# or raise it); larger ones are refused from their header (decompression bombs).
MAX_PIXELS = 4096 * 4096

# The files that hold a TensorRT engine (Triton names its plan files model.plan).
ENGINE_SUFFIXES = (".engine", ".plan")

# gRPC messages: a raw 1080p frame is about 6 MB, above gRPC's 4 MB default.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
# Frames of one stream in flight: what `aib stream` sends ahead and what the server reads ahead.
STREAM_WINDOW = 8


def output_names(quantized: bool) -> tuple[str, ...]:
    """The contract's outputs of a model: plain models have no anchor indices."""
    return OUTPUT_NAMES if quantized else OUTPUT_NAMES[:2]
