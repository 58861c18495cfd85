"""Turning checkpoints into deployable files (installed as `aib_deploy.export`): ONNX,
INT8 Q/DQ, the TensorRT readiness check and Triton model repositories.

Exporting needs the `export` extra (torch, onnx, onnxscript), imported only
where used; nothing here is imported by the serving path.
"""
