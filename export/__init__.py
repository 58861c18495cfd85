"""Export and engine-building code (installed as `aib_deploy.export`).

Needs the `export` extra (torch, onnx, onnxscript); nothing here is imported by
the serving path.
"""
