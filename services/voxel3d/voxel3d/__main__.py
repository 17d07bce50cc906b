"""`python -m voxel3d`: serve the voxel3d test (settings from VOXEL3D_* variables) on the shared runtime."""

from __future__ import annotations

from voxel3d import TEST


def main() -> None:
    TEST.serve()


if __name__ == "__main__":
    main()
