"""`python -m cnn2d`: settings from the environment, the model, and the shared gRPC runtime."""

from __future__ import annotations

from cnn2d import TEST


def main() -> None:
    TEST.serve()


if __name__ == "__main__":
    main()
