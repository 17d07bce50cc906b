"""Temporal liveness test: frame sequences, blinks, motion, expression challenge and identity."""

from liveness.registry import TestSpec

# The test's one declaration, named by pyproject.toml's `liveness.tests` entry point (see liveness.registry).
TEST = TestSpec(
    name="temporal",
    port=50063,
    summary="sequence, blink and challenge checks over a clip (ONNX + dlib)",
    model="temporal.model:TemporalModel",
    settings="temporal.model:TemporalSettings",
)
