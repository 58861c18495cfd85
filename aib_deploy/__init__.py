"""aib-deploy: export, serve and benchmark AIB attention classifiers.

Importing the package is cheap: PyTorch, ONNX and TensorRT are imported only by
the modules that need them, so a serving install works without them.
"""

__version__ = "0.1.0"
