#!/usr/bin/env bash
# Set up .venv/ and run the main job: write a checkpoint in the paper's VGG-CIFAR
# layout (the conformance weights, since no trained weights can be downloaded
# here), export it to ONNX and check parity with PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
out=${1:-demo-output}
mkdir -p "$out"
.venv/bin/python tests/checkpoint_files.py vgg_aib_qt_cifar100 "$out/vgg_aib_qt_cifar100.pth"
.venv/bin/aib export onnx "$out/vgg_aib_qt_cifar100.pth" -o "$out/vgg_aib_qt_cifar100.onnx"
