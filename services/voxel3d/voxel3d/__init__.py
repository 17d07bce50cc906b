"""voxel3d: 3D structure of the face from the motion of its landmarks over a clip (ONNX)."""

from liveness.registry import TestSpec

# The test's one declaration, named by pyproject.toml's `liveness.tests` entry point (see liveness.registry).
TEST = TestSpec(
    name="voxel3d",
    port=50064,
    summary="3D structure from the motion of the face landmarks over a clip (ONNX)",
    model="voxel3d.model:Voxel3dModel",
    settings="voxel3d.model:Voxel3dSettings",
)
