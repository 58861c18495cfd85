"""Backends: each runner executes one kind of artefact behind the same interface.

Runners import their framework lazily (inside `activate`), so choosing ONNX
Runtime never imports torch.
"""
