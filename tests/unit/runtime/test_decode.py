"""The one decoding path: every malformed input is InvalidInput naming the problem; good input is RGB."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import simplejpeg
from PIL import Image

from liveness.errors import InvalidInput
from liveness.vision.decode import (
    LazyFrames,
    MediaLimits,
    decode_frames,
    decode_image,
    decode_small_image,
    frames_on_demand,
)
from tests.conftest import encode

RNG = np.random.default_rng(1)
RGB = RNG.integers(0, 255, (40, 60, 3), dtype=np.uint8)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height but carries almost no data (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x00" * 100, "not a JPEG, PNG or WebP"),
        (encode(RGB)[:200], "(?i)truncated"),
        (encode(RGB)[: len(encode(RGB)) // 2], "(?i)truncated"),
        (png_header_only(20000, 20000), "more than the limit"),
        (png_header_only(5000, 5000), "exceeds the limit"),
        (encode(RNG.integers(0, 255, (8, 8, 3), dtype=np.uint8), "PNG"), "smaller than"),
        (encode(RGB, "GIF"), "not supported"),
        (encode(RGB, "BMP"), "not supported"),
    ],
    ids=[
        "empty",
        "random",
        "truncated-header",
        "truncated-data",
        "bomb-header",
        "over-limit",
        "tiny",
        "gif",
        "bmp",
    ],
)
def test_bad_images_are_invalid_input(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        decode_image(data)


def test_byte_limit_is_checked_before_decoding() -> None:
    with pytest.raises(InvalidInput, match="bytes exceeds the limit of 100 bytes"):
        decode_image(encode(RGB), MediaLimits(max_image_bytes=100))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_supported_formats_decode_to_rgb(fmt: str) -> None:
    out = decode_image(encode(RGB, fmt, **({"lossless": True} if fmt == "WEBP" else {})))
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    if fmt != "JPEG":
        np.testing.assert_array_equal(out, RGB)


def test_grayscale_cmyk_alpha_and_16bit_become_rgb() -> None:
    grey = RNG.integers(0, 255, (40, 60), dtype=np.uint8)
    out = decode_image(encode(grey, "PNG"))
    assert out.shape == (40, 60, 3) and (out[:, :, 0] == grey).all()

    cmyk = Image.fromarray(RGB).convert("CMYK")
    buf = io.BytesIO()
    cmyk.save(buf, format="JPEG")
    assert decode_image(buf.getvalue()).shape == (40, 60, 3)

    rgba = np.dstack([RGB, np.zeros((40, 60), np.uint8)])  # fully transparent: composited on white
    assert (decode_image(encode(rgba, "PNG")) == 255).all()

    wide = (np.arange(40 * 60, dtype=np.uint16).reshape(40, 60) * 27).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(wide).save(buf, format="PNG")
    out = decode_image(buf.getvalue())
    np.testing.assert_array_equal(out[:, :, 0], (wide >> 8).astype(np.uint8))


def _pillow_rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


@pytest.mark.parametrize(
    "options",
    [
        {"quality": 90},  # 4:2:0
        {"quality": 80, "subsampling": 1},  # 4:2:2
        {"quality": 70, "subsampling": 0},  # 4:4:4
        {"quality": 85, "progressive": True},
        {"quality": 75, "optimize": True},
        {"quality": 90, "grey": True},
    ],
    ids=["420", "422", "444", "progressive", "optimized", "grey"],
)
def test_jpeg_pixels_are_exactly_pillows(options: dict[str, object]) -> None:
    """The simplejpeg path (plain JPEGs) gives bit for bit what Pillow decodes, so the models see the same."""
    face = np.asarray(Image.fromarray(RNG.integers(0, 255, (30, 45, 3), dtype=np.uint8)).resize((181, 123)))
    settings = dict(options)
    grey = settings.pop("grey", False)
    data = encode(face[:, :, 1] if grey else face, "JPEG", **settings)
    np.testing.assert_array_equal(decode_image(data), _pillow_rgb(data))


def test_jpeg_that_libjpeg_warns_about_is_still_what_pillow_decides() -> None:
    """simplejpeg runs strict and refuses data libjpeg only warns about; Pillow accepts it, and so do we."""
    data = encode(RGB)
    warned = data[:-2] + b"\xab" * 16 + data[-2:]  # "extraneous bytes before marker 0xd9"
    with pytest.raises(ValueError, match="extraneous bytes"):
        simplejpeg.decode_jpeg(warned, colorspace="RGB", strict=True)
    np.testing.assert_array_equal(decode_image(warned), _pillow_rgb(warned))


def test_mpo_jpeg_from_a_phone_decodes_its_primary_image() -> None:
    """A JPEG with an MPF preview appended (Pillow calls it MPO) is a photo, not an animation."""
    buf, preview = io.BytesIO(), Image.fromarray(RGB[::2, ::2])
    Image.fromarray(RGB).save(buf, format="MPO", quality=75, save_all=True, append_images=[preview])
    with Image.open(io.BytesIO(buf.getvalue())) as img:
        assert (img.format, img.n_frames) == ("MPO", 2)
    np.testing.assert_array_equal(decode_image(buf.getvalue()), decode_image(encode(RGB, quality=75)))


def test_exif_orientation_is_applied() -> None:
    img = Image.fromarray(RGB)  # 60 wide, 40 high
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes())
    upright = decode_image(encode(RGB))  # the same pixels, no orientation tag
    np.testing.assert_array_equal(decode_image(buf.getvalue()), np.rot90(upright, k=-1))


def test_decode_small_image_decodes_only_up_to_its_pixel_count() -> None:
    data = encode(RGB)  # 60x40 = 2400 pixels
    np.testing.assert_array_equal(decode_small_image(data, 2400), decode_image(data))
    assert decode_small_image(data, 2399) is None
    # Every header check still applies to an image it leaves to the caller, and the pixel data to one it
    # decodes.
    with pytest.raises(InvalidInput, match="exceeds the limit"):
        decode_small_image(png_header_only(5000, 5000), 100, MediaLimits(max_pixels=1000 * 1000))
    with pytest.raises(InvalidInput, match="truncated"):
        decode_small_image(data[: len(data) // 2], 2400)
    assert decode_small_image(data[: len(data) // 2], 100) is None  # pixel data not read


def test_clip_rules() -> None:
    frame = encode(RGB)
    clip = decode_frames([(frame, 0), (frame, 33), (frame, 66)])
    assert len(clip) == 3 and clip.is_clip and clip.timestamps_ms == (0, 33, 66)
    with pytest.raises(InvalidInput, match="strictly increasing"):
        decode_frames([(frame, 0), (frame, 0)])
    with pytest.raises(InvalidInput, match="exceeds the limit of 2"):
        decode_frames([(frame, i) for i in range(3)], MediaLimits(max_frames=2))
    with pytest.raises(InvalidInput, match="no frames"):
        decode_frames([])
    other = encode(RNG.integers(0, 255, (50, 60, 3), dtype=np.uint8))
    with pytest.raises(InvalidInput, match="frame 1 is 60x50 but frame 0 is 60x40"):
        decode_frames([(frame, 0), (other, 10)])
    with pytest.raises(InvalidInput, match=r"media\.clip\.frames\[1\]\.image\.data: empty"):
        decode_frames([(frame, 0), (b"", 10)])


def test_a_long_clip_decodes_on_the_pool_like_one_thread() -> None:
    frames = [encode(RNG.integers(0, 255, (40, 60, 3), dtype=np.uint8)) for _ in range(8)]
    clip = decode_frames([(f, 10 * i) for i, f in enumerate(frames)])
    assert all(np.array_equal(a, decode_image(f)) for a, f in zip(clip.frames, frames, strict=True))
    # Two broken frames: the first in clip order is named, as a sequential decode would name it.
    broken = [(f, 10 * i) for i, f in enumerate(frames)]
    broken[3], broken[6] = (b"", 30), (frames[0][:50], 60)
    with pytest.raises(InvalidInput, match=r"media\.clip\.frames\[3\]\.image\.data: empty"):
        decode_frames(broken)


def test_truncated_data_is_refused_whatever_pillow_global_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """face_recognition turns on Pillow's LOAD_TRUNCATED_IMAGES when imported (the temporal service imports
    it); decoding must still refuse truncated data rather than pad it grey."""
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = encode(RGB)
    with pytest.raises(InvalidInput, match="(?i)truncated"):
        decode_image(data[: len(data) // 2])


def test_frames_on_demand_check_every_header_and_decode_each_frame_when_read() -> None:
    frames = [encode(RNG.integers(0, 255, (40, 60, 3), dtype=np.uint8)) for _ in range(6)]
    clip = frames_on_demand([(f, 10 * i) for i, f in enumerate(frames)])
    assert isinstance(clip.frames, LazyFrames) and clip.frames.decoded == 0
    assert len(clip) == 6 and clip.is_clip and clip.timestamps_ms == (0, 10, 20, 30, 40, 50)
    np.testing.assert_array_equal(clip.frames[4], decode_image(frames[4]))
    np.testing.assert_array_equal(clip.frames[-1], decode_image(frames[5]))
    assert clip.frames.decoded == 2
    assert [f.shape for f in clip.frames[1:3]] == [(40, 60, 3)] * 2 and clip.frames.decoded == 4
    with pytest.raises(IndexError):
        clip.frames[6]
    # The clip rules and every header hold before any frame is read ...
    with pytest.raises(InvalidInput, match="strictly increasing"):
        frames_on_demand([(frames[0], 0), (frames[1], 0)])
    other = encode(RNG.integers(0, 255, (50, 60, 3), dtype=np.uint8))
    with pytest.raises(InvalidInput, match="frame 1 is 60x50 but frame 0 is 60x40"):
        frames_on_demand([(frames[0], 0), (other, 10)])
    with pytest.raises(InvalidInput, match=r"media\.clip\.frames\[1\]\.image\.data: empty"):
        frames_on_demand([(frames[0], 0), (b"", 10)])
    # ... and a frame whose data is broken past its header is refused, by its field, when it is read.
    broken = frames_on_demand([(frames[0], 0), (frames[1][: len(frames[1]) // 2], 10)])
    assert broken.frames[0].shape == (40, 60, 3)
    with pytest.raises(InvalidInput, match=r"media\.clip\.frames\[1\]\.image\.data: corrupt or truncated"):
        broken.frames[1]


def test_frames_on_demand_of_a_subsample_name_frames_by_their_place_in_the_clip() -> None:
    frames = [(encode(RNG.integers(0, 255, (40, 60, 3), dtype=np.uint8)), 10 * i) for i in range(5)]
    frames[3] = (frames[3][0][: len(frames[3][0]) // 2], 30)  # broken past its header; the subsample reads it
    clip = frames_on_demand([frames[1], frames[3]], indexes=[1, 3], clip=frames)
    assert len(clip) == 2 and clip.timestamps_ms == (10, 30)
    with pytest.raises(InvalidInput, match=r"media\.clip\.frames\[3\]\.image\.data"):
        clip.frames[1]
    # A frame left out is still checked from its header.
    bad = list(frames)
    bad[0] = (b"not an image", 0)
    with pytest.raises(InvalidInput, match=r"media\.clip\.frames\[0\]\.image\.data"):
        frames_on_demand([frames[1]], indexes=[1], clip=bad)


def test_frames_on_demand_compare_sizes_as_decoded_after_the_exif_rotation() -> None:
    img = Image.fromarray(RGB)  # 60 wide, 40 high, shown turned: 40 wide, 60 high
    exif = img.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes())
    upright = encode(np.ascontiguousarray(np.rot90(RGB, k=-1)))
    clip = frames_on_demand([(buf.getvalue(), 0), (upright, 10)])
    assert clip.frames[0].shape == clip.frames[1].shape == (60, 40, 3)


def test_frames_on_demand_refuse_a_png_broken_past_its_header_as_invalid_input() -> None:
    """Pillow reads a PNG to its end to find EXIF; what it raises there is the client's INVALID_ARGUMENT."""
    buf = io.BytesIO()
    Image.fromarray(RGB).save(buf, format="PNG")
    png = buf.getvalue()
    with pytest.raises(
        InvalidInput, match=r"media\.clip\.frames\[1\]\.image\.data: corrupt or truncated PNG"
    ):
        frames_on_demand([(png, 0), (png[: len(png) // 2], 10)])
    assert frames_on_demand([(png, 0), (png, 10)]).frames[1].shape == (40, 60, 3)
