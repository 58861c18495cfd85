"""Backends: each runner executes one kind of artefact behind the same interface
(`activate / infer / deactivate`, after Polygraphy's runners); TensorRT also
has its builder here.

Runners import their framework lazily (inside `activate`), so choosing ONNX
Runtime never imports torch.
"""
