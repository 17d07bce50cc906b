"""`python -m texture`: serve the colour-texture test with the shared runtime."""

from __future__ import annotations

from texture import TEST


def main() -> None:
    TEST.serve()


if __name__ == "__main__":
    main()
