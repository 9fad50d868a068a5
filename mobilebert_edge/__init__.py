"""mobilebert-edge: fine-tune a small encoder on a CPU, ship it as an ONNX bundle, serve it anywhere."""

__version__ = "0.1.0"
