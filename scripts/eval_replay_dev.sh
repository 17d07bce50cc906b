#!/usr/bin/env bash
# replay-dev's leave-one-person-out protocol through the served stack, as README's replay-dev table was made
# (about 16 min on 2 cores, most of it the two cnn2d trainings):
#   scripts/eval_replay_dev.sh ../shared/data [OUT_DIR]
# For each person, the fusion members (cnn2d, texture) are retrained without that person (`--hold-out`) and
# served through CNN2D_MODEL_PATH / TEXTURE_MODEL_PATH; the shipped fusion was fitted without replay-dev
# (scripts/fit_fusion.sh), and the tests with fusion weight 0 (iqa, temporal, voxel3d) decide nothing.
# Writes OUT_DIR/<person>/report.md and report.json; prints each person's row.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: scripts/eval_replay_dev.sh DATA_DIR [OUT_DIR]}
OUT=${2:-reports/replay-dev-held-out}
BIN=${BIN:-.venv/bin}
CACHE=${CACHE:-.cache}
for PERSON in krzysiek tranvanluyt; do
    FOLD="replay-dev/$PERSON"
    "$BIN/liveness" train cnn2d --data "$DATA" --hold-out "$FOLD" --folds 0 \
        --out "$CACHE/cnn2d-ho-$PERSON" --cache "$CACHE/cnn2d"
    "$BIN/liveness" train texture --data "$DATA" --hold-out "$FOLD" --no-validation \
        --out "$CACHE/texture-ho-$PERSON" --cache "$CACHE/texture"
    CNN2D_MODEL_PATH="$CACHE/cnn2d-ho-$PERSON/cnn2d.onnx" TEXTURE_MODEL_PATH="$CACHE/texture-ho-$PERSON/texture.npz" \
        "$BIN/liveness" eval --data "$DATA" --protocol cross-source --fold "$FOLD" --out "$OUT/$PERSON" --no-plots
done
