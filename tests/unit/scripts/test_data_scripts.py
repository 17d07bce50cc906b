"""The data scripts that remake the shipped fusion and the replay-dev figures: they parse, and without a data
folder they stop at once with their usage line, before training or writing anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.bash_scripts import check_bash_script

REPO = Path(__file__).resolve().parents[3]
DATA_SCRIPTS = ("scripts/fit_fusion.sh", "scripts/eval_replay_dev.sh")


@pytest.mark.parametrize("script", DATA_SCRIPTS)
def test_data_script_parses_and_refuses_to_run_without_a_data_folder(script: str, tmp_path: Path) -> None:
    path = REPO / script
    check_bash_script(path)
    # BIN points nowhere: should the usage check ever go, the script fails on a missing command instead of
    # starting a training run.
    done = subprocess.run(
        ["bash", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "BIN": str(tmp_path / "no-bin"), "CACHE": str(tmp_path / "cache")},
    )
    assert done.returncode != 0
    assert f"usage: {script} DATA_DIR" in done.stderr
    assert not (tmp_path / "cache").exists()
