"""Colour-texture liveness test: LBP histograms of the face in HSV and YCbCr, a linear classifier."""

from liveness.registry import TestSpec

# The test's one declaration, named by pyproject.toml's `liveness.tests` entry point (see liveness.registry).
TEST = TestSpec(
    name="texture",
    port=50065,
    summary="colour LBP and blur and colour cues of the face box; needs the face the gateway found",
    model="texture.model:TextureModel",
    settings="texture.model:TextureSettings",
)
