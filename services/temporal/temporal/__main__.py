"""`python -m temporal`: serve the temporal test through the shared runtime."""

from __future__ import annotations

from temporal import TEST


def main() -> None:
    TEST.serve()


if __name__ == "__main__":
    main()
