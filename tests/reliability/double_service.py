"""A DoubleModel served as its own process, so fault tests can SIGKILL a real test service and restart it.

python -m tests.reliability.double_service NAME [SCORE]     (port and limits from LIVENESS_* variables)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from liveness.runtime.server import serve_test
from liveness.types import CheckOptions, FaceObservation, Media, TestResult
from tests.doubles import DoubleModel


@dataclass
class ForgetfulDouble(DoubleModel):
    """A DoubleModel that keeps no record of its calls, so a long soak measures the runtime's memory only."""

    def check(self, media: Media, faces: Sequence[FaceObservation], options: CheckOptions) -> TestResult:
        result = super().check(media, faces, options)
        self.calls.clear()
        return result


def main() -> None:
    name = sys.argv[1]
    score = float(sys.argv[2]) if len(sys.argv) > 2 else 0.8
    serve_test(name, lambda: ForgetfulDouble(name, score=score))


if __name__ == "__main__":
    main()
