"""Data set readers on small fake folder trees (names only), plus the shared data sets when present."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from liveness.data.samples import (
    LIVE,
    SPOOF,
    casia_fasd,
    detect_layout,
    load_image,
    load_media,
    nuaa,
    open_dataset,
    oulu_npu,
    read_manifest,
    replay_attack,
)
from liveness.errors import InvalidInput
from liveness.vision.decode import encode_jpeg

from .fakes import touch, write_video


def _replay_attack_tree(root: Path) -> None:
    touch(
        root,
        "train/real/client001_session01_webcam_authenticate_adverse_1.mov",
        "train/attack/fixed/attack_print_client001_session01_highdef_photo_adverse.mov",
        "train/attack/hand/attack_highdef_client001_session01_highdef_video_controlled.mov",
        "train/attack/hand/attack_mobile_client001_session01_mobile_photo_adverse.mov",
        "devel/real/client003_session01_webcam_authenticate_controlled_2.mov",
        "devel/attack/fixed/attack_print_client003_session01_highdef_photo_controlled.mov",
        "test/real/client009_session01_webcam_authenticate_adverse_1.mov",
        "test/attack/hand/attack_mobile_client009_session01_mobile_video_adverse.mov",
        "test/real/notes.txt",
    )


def test_replay_attack(tmp_path: Path) -> None:
    _replay_attack_tree(tmp_path)
    samples = list(replay_attack(tmp_path))
    assert len(samples) == 8  # notes.txt is not a video
    by_name = {s.path.name: s for s in samples}
    real = by_name["client001_session01_webcam_authenticate_adverse_1.mov"]
    assert (real.label, real.attack, real.subject, real.split, real.kind) == (
        LIVE,
        "none",
        "client001",
        "train",
        "video",
    )
    printed = by_name["attack_print_client001_session01_highdef_photo_adverse.mov"]
    assert (printed.label, printed.attack) == (SPOOF, "print")
    assert printed.extra == {"medium": "print", "support": "fixed", "content": "photo"}
    tablet = by_name["attack_highdef_client001_session01_highdef_video_controlled.mov"]
    assert (
        tablet.attack == "replay" and tablet.extra["support"] == "hand" and tablet.extra["content"] == "video"
    )
    assert by_name["attack_mobile_client001_session01_mobile_photo_adverse.mov"].attack == "replay"
    assert Counter(s.split for s in samples) == {"train": 4, "devel": 2, "test": 2}
    assert {s.subject for s in samples if s.split == "test"} == {"client009"}
    assert [s.split for s in replay_attack(tmp_path, splits=("devel",))] == ["devel", "devel"]


def test_replay_attack_bad_names(tmp_path: Path) -> None:
    touch(tmp_path, "train/attack/fixed/attack_paper_client001_x.mov")
    with pytest.raises(InvalidInput, match="attack medium"):
        list(replay_attack(tmp_path, splits=("train",)))
    touch(tmp_path, "devel/real/someone.mov")
    with pytest.raises(InvalidInput, match="client0NN"):
        list(replay_attack(tmp_path, splits=("devel",)))


def test_casia_fasd(tmp_path: Path) -> None:
    names = ["1", "2", "3", "4", "5", "6", "7", "8", "HR_1", "HR_2", "HR_3", "HR_4"]
    touch(
        tmp_path, *[f"train_release/1/{n}.avi" for n in names], "test_release/1/7.avi", "test_release/1/x.avi"
    )
    samples = list(casia_fasd(tmp_path))
    assert len(samples) == 13  # x.avi is not a CASIA name and is skipped
    train = [s for s in samples if s.split == "train"]
    species = {s.path.stem: (s.label, s.attack, s.extra["quality"]) for s in train}
    assert species["1"] == (LIVE, "none", "low")
    assert species["2"] == (LIVE, "none", "normal")
    assert species["HR_1"] == (LIVE, "none", "high")
    assert species["4"] == (SPOOF, "warped_print", "normal")
    assert species["HR_2"] == (SPOOF, "warped_print", "high")
    assert species["5"] == (SPOOF, "cut_print", "low")
    assert species["HR_3"] == (SPOOF, "cut_print", "high")
    assert species["7"] == (SPOOF, "replay", "low")
    assert species["HR_4"] == (SPOOF, "replay", "high")
    # Folder "1" is a different person in train and test.
    assert {s.subject for s in samples} == {"train_1", "test_1"}


def test_oulu_npu(tmp_path: Path) -> None:
    touch(tmp_path, *[f"Train_files/1_1_01_{f}.avi" for f in range(1, 6)], "Dev_files/2_3_21_1.avi")
    samples = list(oulu_npu(tmp_path))
    assert [(s.label, s.attack, s.extra.get("instrument", "")) for s in samples[:5]] == [
        (LIVE, "none", ""),
        (SPOOF, "print", "print1"),
        (SPOOF, "print", "print2"),
        (SPOOF, "replay", "replay1"),
        (SPOOF, "replay", "replay2"),
    ]
    dev = samples[5]
    assert (dev.split, dev.subject, dev.extra["phone"], dev.extra["session"]) == ("dev", "21", "2", "3")
    with pytest.raises(InvalidInput, match="Test_files"):
        oulu_npu(tmp_path, splits=("test",))  # checked at the call, before any iteration
    with pytest.raises(InvalidInput, match="no split 'devel'"):
        oulu_npu(tmp_path, splits=("devel",))
    touch(tmp_path, "Test_files/1_1_36_9.avi")
    with pytest.raises(InvalidInput, match="file 1-5"):
        list(oulu_npu(tmp_path, splits=("test",)))


def test_nuaa_layout(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "live/0001/0001_00_00_01_0.jpg",
        "spoof/0001/0001_00_00_02_5.jpg",
        "spoof/0002/0002_01_00_01_1.jpg",
    )
    samples = list(nuaa(tmp_path))
    assert [(s.label, s.attack, s.subject, s.extra["session"]) for s in samples] == [
        (LIVE, "none", "0001", "01"),
        (SPOOF, "print", "0001", "02"),
        (SPOOF, "print", "0002", "01"),
    ]


def test_manifest(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text(
        "path,label,attack,subject,split,note\n"
        "a/x.jpg,live,,p1,train,hello\n"
        "a/y.mp4,spoof,replay,p2,test,\n"
        "b/z.png,SPOOF,,,,\n"
    )
    samples = list(read_manifest(tmp_path / "m.csv"))
    assert [(s.label, s.attack, s.subject, s.kind, s.split) for s in samples] == [
        (LIVE, "none", "p1", "image", "train"),
        (SPOOF, "replay", "p2", "video", "test"),
        (SPOOF, SPOOF, "b", "image", ""),  # no subject column value: the parent folder
    ]
    assert samples[0].path == tmp_path / "a" / "x.jpg"
    assert samples[0].extra == {"note": "hello"}


@pytest.mark.parametrize(
    ("body", "message"),
    [("path\nx.jpg\n", "missing column"), ("path,label\nx.jpg,maybe\n", "neither live nor spoof")],
)
def test_manifest_errors(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "m.csv").write_text(body)
    with pytest.raises(InvalidInput, match=message):
        list(read_manifest(tmp_path / "m.csv"))


def test_detect_layout_and_open_dataset(tmp_path: Path) -> None:
    ra, casia, oulu, nu, man, other = (tmp_path / n for n in ("ra", "casia", "oulu", "nuaa", "man", "other"))
    _replay_attack_tree(ra)
    touch(casia, "test_release/3/HR_1.avi")
    touch(oulu, "Test_files/1_1_36_1.avi")
    touch(nu, "live/0001/0001_00_00_01_0.jpg", "spoof/0001/0001_00_00_01_1.jpg")
    touch(man, "f.jpg")
    (man / "manifest.csv").write_text("path,label,split\nf.jpg,live,train\nf.jpg,spoof,test\n")
    other.mkdir()
    assert [detect_layout(p) for p in (ra, casia, oulu, nu, man, man / "manifest.csv")] == [
        "replay-attack",
        "casia-fasd",
        "oulu-npu",
        "nuaa",
        "manifest",
        "manifest",
    ]
    assert len(list(open_dataset(ra))) == 8
    assert [s.split for s in open_dataset(ra, splits=["test"])] == ["test", "test"]
    assert [s.subject for s in open_dataset(casia)] == ["test_3"]
    assert [s.subject for s in open_dataset(oulu)] == ["36"]
    assert len(list(open_dataset(nu))) == 2
    assert [s.label for s in open_dataset(man, splits=["test"])] == [SPOOF]
    with pytest.raises(InvalidInput, match="unknown data set layout"):
        open_dataset(other)
    with pytest.raises(InvalidInput, match="no such"):
        open_dataset(tmp_path / "missing")
    with pytest.raises(InvalidInput, match="no train_release"):
        open_dataset(casia, splits=["train"])


def test_load_image_and_media(tmp_path: Path) -> None:
    image = np.zeros((20, 30, 3), np.uint8)
    image[:, :, 0] = 200
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "a.jpg").write_bytes(encode_jpeg(image))
    write_video(tmp_path / "live" / "b.mp4", frames=9)
    (tmp_path / "manifest.csv").write_text("path,label\nlive/a.jpg,live\nlive/b.mp4,live\n")
    still, clip = list(open_dataset(tmp_path / "manifest.csv"))
    assert load_image(still.path).shape == (20, 30, 3)
    media = load_media(still)
    assert not media.is_clip and len(media) == 1 and media.image[0, 0, 0] > 150
    media = load_media(clip, frames=3)
    assert media.is_clip and media.timestamps_ms == (0, 400, 800)


def test_shared_data_sets(data_root: Path) -> None:
    nu = list(open_dataset(data_root / "nuaa"))
    assert Counter(s.label for s in nu) == {LIVE: 1743, SPOOF: 1748}
    assert len({s.subject for s in nu}) == 9
    assert {s.attack for s in nu if s.label == SPOOF} == {"print"}
    replay = list(open_dataset(data_root / "replay-dev"))
    assert Counter((s.label, s.kind) for s in replay) == {
        (SPOOF, "image"): 71,
        (LIVE, "video"): 2,
        (SPOOF, "video"): 1,
    }
    assert all(s.path.is_file() for s in replay)
