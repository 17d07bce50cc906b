"""The one place commands turn the project's errors into command-line errors.

Library code (scoring, reports, protocols, calibration, training helpers) raises liveness.errors; a click
command (`liveness eval`, `liveness calibrate`, a test's `train`) wraps its body in `click_errors()` (a
context manager or a decorator), so bad input ends as a usage error (exit code 2, the message and the
command's usage) and any other project error as a failure (exit code 1), never a traceback. Core, so the
services' train commands can use it (click is a base dependency).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from liveness.errors import InvalidInput, LivenessError


@contextmanager
def click_errors() -> Iterator[None]:
    """InvalidInput becomes click.UsageError, any other LivenessError click.ClickException."""
    try:
        yield
    except InvalidInput as exc:
        raise click.UsageError(str(exc)) from None
    except LivenessError as exc:
        raise click.ClickException(str(exc)) from None
