"""Challenge-response (seed 002): did the requested actions happen in the clip, in the requested order?

Each action becomes a per-frame evidence track with values in [0, 1] (expression probability, blink
depth, head-turn strength); an action is seen at a frame whose evidence reaches its threshold. The actions
are matched in order, each strictly after the frame that satisfied the previous one, taking the earliest
frame that qualifies: earliest-first matching finds an in-order assignment whenever one exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from liveness.types import Action, ActionResult


@dataclass(frozen=True, slots=True)
class ChallengeSettings:
    """Evidence thresholds per action kind."""

    expression_threshold: float = 0.6  # P(happy) for SMILE, P(surprise) for SURPRISE
    turn_threshold: float = 0.25  # |yaw| proxy (see liveness.vision.face.yaw) for TURN_LEFT / TURN_RIGHT
    blink_threshold: float = 0.2  # blink depth (1 - EAR_min / baseline); detect_blinks already gates it

    def threshold(self, action: Action) -> float:
        if action in (Action.SMILE, Action.SURPRISE):
            return self.expression_threshold
        if action in (Action.TURN_LEFT, Action.TURN_RIGHT):
            return self.turn_threshold
        return self.blink_threshold


def match_in_order(
    challenge: Sequence[Action],
    evidence: Mapping[Action, npt.NDArray[np.float64]],
    settings: ChallengeSettings = ChallengeSettings(),
) -> tuple[ActionResult, ...]:
    """One ActionResult per requested action; a missing evidence track means the action cannot be seen.

    After the first unsatisfied action the later ones are reported unsatisfied too: the order is broken.
    """
    results: list[ActionResult] = []
    after = -1
    broken = False
    for action in challenge:
        track = evidence.get(action)
        if broken or track is None:
            results.append(ActionResult(action, False))
            broken = True
            continue
        hits = np.flatnonzero(np.nan_to_num(track, nan=0.0) >= settings.threshold(action))
        hits = hits[hits > after]
        if len(hits) == 0:
            best = np.nan_to_num(track[after + 1 :], nan=0.0)
            best_value = float(np.clip(best.max(), 0.0, 1.0)) if len(best) else 0.0
            results.append(ActionResult(action, False, -1, best_value))
            broken = True
            continue
        frame = int(hits[0])
        results.append(ActionResult(action, True, frame, float(np.clip(track[frame], 0.0, 1.0))))
        after = frame
    return tuple(results)
