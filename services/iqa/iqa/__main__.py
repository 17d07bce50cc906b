"""`python -m iqa`: serve the whole-image quality test with the shared runtime."""

from __future__ import annotations

from iqa import TEST


def main() -> None:
    TEST.serve()


if __name__ == "__main__":
    main()
