"""`python -m cnn2d`: settings from the environment, the model, and the shared gRPC runtime."""

from __future__ import annotations

from cnn2d.model import Cnn2dModel, Cnn2dSettings
from liveness.runtime.server import serve_test


def main() -> None:
    serve_test("cnn2d", lambda: Cnn2dModel(Cnn2dSettings.from_env()))


if __name__ == "__main__":
    main()
