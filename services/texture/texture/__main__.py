"""`python -m texture`: serve the colour-texture test with the shared runtime."""

from __future__ import annotations

from liveness.runtime.server import serve_test
from texture.model import TextureModel, TextureSettings


def main() -> None:
    serve_test("texture", lambda: TextureModel(TextureSettings.from_env()))


if __name__ == "__main__":
    main()
