"""`python -m iqa`: serve the whole-image quality test with the shared runtime."""

from __future__ import annotations

from iqa.model import IqaModel, IqaSettings
from liveness.runtime.server import serve_test


def main() -> None:
    serve_test("iqa", lambda: IqaModel(IqaSettings.from_env()))


if __name__ == "__main__":
    main()
