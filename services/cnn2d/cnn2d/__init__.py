"""cnn2d: multi-scale face-crop CNN liveness test (ONNX)."""

from liveness.registry import TestSpec

# The test's one declaration, named by pyproject.toml's `liveness.tests` entry point (see liveness.registry).
TEST = TestSpec(
    name="cnn2d",
    port=50062,
    summary="multi-scale face-crop CNN (ONNX)",
    model="cnn2d.model:Cnn2dModel",
    settings="cnn2d.model:Cnn2dSettings",
)
