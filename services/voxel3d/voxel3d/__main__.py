"""`python -m voxel3d`: serve the voxel3d test (settings from VOXEL3D_* variables) on the shared runtime."""

from __future__ import annotations

from liveness.runtime.server import serve_test
from voxel3d.model import Voxel3dModel, Voxel3dSettings


def main() -> None:
    serve_test("voxel3d", lambda: Voxel3dModel(Voxel3dSettings.from_env()))


if __name__ == "__main__":
    main()
