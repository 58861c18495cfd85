"""A plain tritonclient gRPC client: the same script talks to `aib serve` and to Triton Inference Server.

    .venv/bin/python scripts/kserve_client.py --url 127.0.0.1:50051 --model NAME FRAME.jpg [FRAME.png ...]
        [--input frames|images] [--token TOKEN]

Prints one JSON line per frame: top-1 class and label (Triton's classification extension), the logits
and the attention map's anchor indices. With `--input images` the frames are preprocessed here, from
the model card the server publishes in its model config (what a Triton user's own client does).
Nothing here knows aib-deploy: only tritonclient, numpy and OpenCV.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import tritonclient.grpc as triton

CARD_KEY = "aib_deploy.model_card"


def frame_file(value: str) -> str:
    """argparse's type for FRAME: an existing file, or one line saying what it is instead."""
    path = Path(value)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: a folder; expected an image file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{value}: no such file")
    return value


def images_tensor(paths: list[str], card: dict) -> np.ndarray:
    size = card["input"]["height"]
    mean, std = np.asarray(card["mean"], np.float32), np.asarray(card["std"], np.float32)
    rows = []
    for path in paths:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{path}: not an image OpenCV can read")
        shrinking = image.shape[0] * image.shape[1] > size * size
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32)
        rows.append((rgb * (1 / (255 * std)) - mean / std).transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(rows), dtype=np.float32)


def main() -> None:
    """Parse, ask the server, print; a server or file problem is one `kserve_client.py: error:` line, exit 1."""
    try:
        run()
    except (triton.InferenceServerException, ValueError) as error:
        message = error.message() if isinstance(error, triton.InferenceServerException) else str(error)
        print(f"kserve_client.py: error: {message}", file=sys.stderr)
        sys.exit(1)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("frames", nargs="+", type=frame_file)
    parser.add_argument("--url", default="127.0.0.1:8001")
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", choices=["frames", "images"], default="frames")
    parser.add_argument("--token")
    args = parser.parse_args()
    headers = {"authorization": f"Bearer {args.token}"} if args.token else None
    client = triton.InferenceServerClient(args.url)
    if args.input == "frames":
        data = np.array([[Path(path).read_bytes()] for path in args.frames], dtype=object)
        tensor = triton.InferInput("frames", list(data.shape), "BYTES")
    else:
        config = client.get_model_config(args.model, headers=headers).config
        data = images_tensor(args.frames, json.loads(config.parameters[CARD_KEY].string_value))
        tensor = triton.InferInput("images", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data)
    outputs = [triton.InferRequestedOutput(name) for name in ("logits", "attention_index")]
    result = client.infer(args.model, [tensor], outputs=outputs, headers=headers)
    top1 = client.infer(
        args.model, [tensor], outputs=[triton.InferRequestedOutput("logits", class_count=1)], headers=headers
    ).as_numpy("logits")
    for row, path in enumerate(args.frames):
        _, index, label = top1[row, 0].decode().split(":", 2)
        print(
            json.dumps(
                {
                    "frame": path,
                    "class_index": int(index),
                    "label": label,
                    "logits": result.as_numpy("logits")[row].tolist(),
                    "attention_index": result.as_numpy("attention_index")[row, 0].tolist(),
                }
            )
        )


if __name__ == "__main__":
    main()
