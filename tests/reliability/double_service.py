"""A DoubleModel served as its own process, so fault tests can SIGKILL a real test service and restart it.

python -m tests.reliability.double_service NAME [SCORE]     (port and limits from LIVENESS_* variables)
"""

from __future__ import annotations

import sys

from liveness.runtime.server import serve_test
from tests.doubles import DoubleModel


def main() -> None:
    name = sys.argv[1]
    score = float(sys.argv[2]) if len(sys.argv) > 2 else 0.8
    serve_test(name, lambda: DoubleModel(name, score=score))


if __name__ == "__main__":
    main()
