"""How often the gateway's face search finds a face: this tree against a baseline commit, on the same images.

    python benchmarks/face_found.py --manifest ../shared/data/replay-more/manifest.csv [--turn 1]

Runs the face search the gateway runs on an image (`face.observe_upright` where the tree has it, else
`face.observe`) on every image of a data-set manifest (path,label,... relative to the manifest's folder),
optionally turned by `--turn` quarter turns first (a phone frame held sideways), and prints the NO_FACE
rate per source. The baseline commit runs the same file in a child process on its own code (git archive).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def measure(manifest: Path, turn: int, limit: int) -> dict[str, object]:
    from liveness.vision import face
    from liveness.vision.decode import decode_image

    rows = list(csv.DictReader(manifest.open()))
    if limit:
        rows = rows[:: max(1, len(rows) // limit)]
    face.load()
    upright = getattr(face, "observe_upright", None)
    seen: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    turned = 0
    started = time.process_time()
    for row in rows:
        image = decode_image((manifest.parent / row["path"]).read_bytes())
        if turn:
            image = np.ascontiguousarray(np.rot90(image, turn))
        if upright is not None:
            k, obs = upright(image)
            turned += k != 0
        else:
            obs = face.observe(image)
        source = row.get("source") or row["path"].split("/")[0]
        seen[source] += 1
        missed[source] += obs.face is None
    cpu_ms = (time.process_time() - started) * 1000.0 / max(len(rows), 1)
    return {"seen": dict(seen), "no_face": dict(missed), "turned": turned, "cpu_ms_per_image": cpu_ms}


def _line(name: str, result: dict) -> str:  # type: ignore[type-arg]
    seen, missed = result["seen"], result["no_face"]
    total, lost = sum(seen.values()), sum(missed.values())
    per = "  ".join(f"{s} {missed[s]}/{seen[s]}" for s in sorted(seen))
    return (
        f"{name:<10} NO_FACE {lost}/{total} = {100.0 * lost / max(total, 1):.1f} %   ({per})   "
        f"judged turned: {result['turned']}   CPU {result['cpu_ms_per_image']:.1f} ms/image"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--turn", type=int, default=0, help="quarter turns (counter-clockwise) applied first")
    parser.add_argument("--limit", type=int, default=0, help="about this many images, evenly spread (0: all)")
    parser.add_argument("--baseline", default=None, help="baseline commit (default: BASELINE_REV)")
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    ours = measure(args.manifest, args.turn, args.limit)
    if args.json_only:
        print(json.dumps(ours))
        return
    from baseline import BASELINE_REV, extracted, pythonpath

    rev = args.baseline or BASELINE_REV
    with extracted(rev) as root:
        done = subprocess.run(
            [sys.executable, __file__, "--json-only", "--manifest", str(args.manifest.resolve())]
            + ["--turn", str(args.turn), "--limit", str(args.limit)],
            env={**os.environ, "PYTHONPATH": pythonpath(root)},
            capture_output=True,
            text=True,
            check=True,
        )
    base = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{args.manifest} turned by {args.turn * 90} degrees")
    print(_line(rev, base))
    print(_line("this tree", ours))


if __name__ == "__main__":
    main()
