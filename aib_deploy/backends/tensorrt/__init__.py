"""TensorRT: the engine builder, its sidecar and the runner, in one place.

Importing this package imports neither TensorRT nor cuda-python; `cuda.py`
does, when an engine is built or opened.
"""
