"""`python -m temporal`: serve the temporal test through the shared runtime."""

from __future__ import annotations

from liveness.runtime.server import serve_test
from temporal.model import TemporalModel, TemporalSettings


def main() -> None:
    serve_test("temporal", lambda: TemporalModel(TemporalSettings.from_env()))


if __name__ == "__main__":
    main()
