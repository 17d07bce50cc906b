"""The one place that turns client bytes into RGB arrays, with limits checked before decoding.

Pillow reads only the header first, so a decompression bomb (a small file declaring 20000x20000 pixels) is
refused before any pixel is allocated; `load()` then raises on truncated data instead of padding it grey.

A plain RGB or greyscale JPEG with no EXIF rotation (what webcams and browsers send) is decoded by
simplejpeg instead: the same libjpeg-turbo settings, so the same pixels, without Pillow's per-image Python
work in load() (decode_image measured 1.6-3.0x faster at 96x96, 1.3-1.75x at 640x480). simplejpeg runs
strict (any libjpeg warning raises); Pillow tolerates some of those, so on any simplejpeg error Pillow
decodes and has the last word: what is accepted or refused is exactly what Pillow accepts or refuses.

The frames of a clip are decoded on all cores: libjpeg-turbo (through simplejpeg or Pillow) runs without
the GIL, so `decode_frames` hands them to a small pool of its own (one thread per core, at most
DECODE_THREADS) and a 24-frame 640x480 clip is ready in about half the time when a core is free. The pool's
jobs wait on nothing, so a caller that is itself a worker of another pool cannot deadlock on it.

A test that gets the gateway's faces may read only some frames of a clip (voxel3d reads landmarks and no
pixel, temporal about 10 frames of 24): `frames_on_demand` checks every frame's header, as a frame
subsampled away is checked, and decodes each frame when the model first reads it (LazyFrames).
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import overload

import numpy as np
import simplejpeg
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from liveness.errors import InvalidInput
from liveness.types import Media, RGBImage

FORMATS = ("JPEG", "MPO", "PNG", "WEBP")
# MPO: a JPEG whose MPF segment appends more images (phone cameras add a preview or a depth map). Pillow
# names it apart; it is the primary JPEG image that counts, and the other images are not frames of a clip.
_JPEG = ("JPEG", "MPO")
_FAST_MODES = ("RGB", "L")  # CMYK/YCCK JPEGs keep Pillow's conversion (Adobe inverts CMYK)
_ORIENTATION = 0x0112  # EXIF tag


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """Bounds every decoded request must respect; see runtime.config for the environment names."""

    max_image_bytes: int = 8 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    min_side: int = 32
    max_frames: int = 64

    def __post_init__(self) -> None:
        if min(self.max_image_bytes, self.max_pixels, self.min_side, self.max_frames) < 1:
            raise ValueError(f"media limits must be positive: {self}")


DEFAULT_LIMITS = MediaLimits()


def decode_image(data: bytes, limits: MediaLimits = DEFAULT_LIMITS, what: str = "image") -> RGBImage:
    """Decode JPEG/PNG/WebP bytes to RGB uint8 (H, W, 3), applying EXIF orientation.

    Raises InvalidInput naming the problem: empty, too many bytes, unknown format, too many or too few
    pixels, truncated or corrupt data.
    """
    with _open(data, limits, what) as img:
        return _decode(img, data, what)


def decode_small_image(
    data: bytes, max_pixels: int, limits: MediaLimits = DEFAULT_LIMITS, what: str = "image"
) -> RGBImage | None:
    """decode_image when `data` has at most `max_pixels` pixels; None, after every header check, otherwise.

    One header read, where probe_image then decode_image would read it twice: for a caller that decodes
    small images at once and hands big ones to a worker thread.
    """
    with _open(data, limits, what) as img:
        width, height = img.size
        return _decode(img, data, what) if width * height <= max_pixels else None


def _decode(img: Image.Image, data: bytes, what: str) -> RGBImage:
    if img.format in _JPEG and img.mode in _FAST_MODES and img.getexif().get(_ORIENTATION, 1) == 1:
        try:
            return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
        except ValueError:
            pass  # libjpeg warned or failed; Pillow decides below, as it does for every other image
    try:
        img.load()
        ImageOps.exif_transpose(img, in_place=True)
        return _to_rgb(img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInput(f"{what}: corrupt or truncated {img.format} data ({exc})") from None


def probe_image(
    data: bytes, limits: MediaLimits = DEFAULT_LIMITS, what: str = "image", *, oriented: bool = False
) -> tuple[int, int]:
    """(width, height) as stored (`oriented`: as decode_image returns it, after the EXIF rotation), after
    every check decode_image makes from the header alone.

    For clip frames a test subsamples away: they are still validated, at the cost of a header read.
    """
    with _open(data, limits, what) as img:
        width, height = img.size
        if oriented and _orientation(img, what) in _TRANSPOSED:
            return height, width
        return width, height


def _orientation(img: Image.Image, what: str) -> int:
    """The EXIF orientation decode_image applies. A JPEG keeps it in a header segment; Pillow finds a PNG's
    only by reading the whole file, so a PNG broken past its header is refused here."""
    try:
        return int(img.getexif().get(_ORIENTATION, 1))
    except Exception as exc:  # noqa: BLE001 - whatever Pillow raises on client data is the client's problem
        raise InvalidInput(f"{what}: corrupt or truncated {img.format} data ({exc})") from None


_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height (ImageOps.exif_transpose)


def _open(data: bytes, limits: MediaLimits, what: str) -> Image.Image:
    """Open `data` lazily (header only) and check bytes, format, pixel count, size and frame count."""
    if not data:
        raise InvalidInput(f"{what}: empty image data")
    if len(data) > limits.max_image_bytes:
        raise InvalidInput(f"{what}: {len(data)} bytes exceeds the limit of {limits.max_image_bytes} bytes")
    # face_recognition sets this Pillow-wide flag to True when imported, which would make truncated or
    # corrupt data decode silently into grey-padded pixels. Every decode here refuses such data instead.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            # Pillow warns (DecompressionBombWarning) before our own pixel check runs; we refuse below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise InvalidInput(
            f"{what}: header declares more than the limit of {limits.max_pixels} pixels"
        ) from None
    except UnidentifiedImageError as exc:
        raise InvalidInput(f"{what}: not a JPEG, PNG or WebP image ({exc.__class__.__name__})") from None
    except (OSError, ValueError) as exc:
        # ValueError: Pillow refuses a zTXt/iTXt/iCCP chunk that inflates past MAX_TEXT_CHUNK (a metadata
        # decompression bomb) while reading the header.
        raise InvalidInput(f"{what}: unreadable image header ({exc})") from None
    try:
        if img.format not in FORMATS:
            raise InvalidInput(f"{what}: format {img.format} is not supported (use JPEG, PNG or WebP)")
        width, height = img.size
        if width * height > limits.max_pixels:
            raise InvalidInput(
                f"{what}: {width}x{height} pixels exceeds the limit of {limits.max_pixels} pixels"
            )
        if min(width, height) < limits.min_side:
            raise InvalidInput(f"{what}: {width}x{height} is smaller than {limits.min_side} pixels a side")
        if img.format not in _JPEG and getattr(img, "n_frames", 1) > 1:
            raise InvalidInput(f"{what}: animated images are not supported; send a clip of frames instead")
    except BaseException:
        img.close()
        raise
    return img


def _to_rgb(img: Image.Image) -> RGBImage:
    """Any Pillow mode to RGB uint8; 16-bit data keeps its high byte instead of clipping at 255."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.uint32)
        shift = 8 if img.mode.startswith("I;16") or arr.max(initial=0) <= 0xFFFF else 24
        grey = (arr >> shift).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite on white, as a browser shows it, rather than exposing undefined colour under alpha 0.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


# Messages name clip fields by their path in the request, as written in the proto (snake_case).
CLIP_FIELD = "media.clip.frames"


def frame_field(i: int) -> str:
    """The request field holding clip frame `i`'s bytes."""
    return f"{CLIP_FIELD}[{i}].image.data"


def check_clip_timing(frames: Sequence[tuple[bytes, int]], limits: MediaLimits, is_clip: bool = True) -> None:
    """Frame count in 1..max_frames; for a clip of several frames, timestamps >= 0 and strictly increasing."""
    if not frames:
        raise InvalidInput(f"{CLIP_FIELD}: no frames")
    if len(frames) > limits.max_frames:
        raise InvalidInput(f"{CLIP_FIELD}: {len(frames)} frames exceeds the limit of {limits.max_frames}")
    if not is_clip or len(frames) < 2:
        return
    timestamps = [int(t) for _, t in frames]
    for i, t in enumerate(timestamps):
        if t < 0:
            raise InvalidInput(f"{CLIP_FIELD}[{i}].timestamp_ms: {t}; timestamps must be non-negative")
        if i and t <= timestamps[i - 1]:
            raise InvalidInput(
                f"{CLIP_FIELD}[{i}].timestamp_ms: {t} after {timestamps[i - 1]}; "
                "timestamps must be strictly increasing"
            )


def decode_frames(
    frames: Sequence[tuple[bytes, int]],
    limits: MediaLimits = DEFAULT_LIMITS,
    *,
    is_clip: bool = True,
) -> Media:
    """Decode a clip: (bytes, timestamp_ms) pairs, timestamps strictly increasing, one frame size.

    (A subsample of a clip is checked and decoded by `frames_on_demand`.)
    """
    check_clip_timing(frames, limits, is_clip)
    fields = [frame_field(i) for i in range(len(frames))]
    if len(frames) < PARALLEL_FROM:
        decoded = [decode_image(data, limits, what=f) for (data, _), f in zip(frames, fields, strict=True)]
    else:
        # In frame order: the first broken frame's error is raised, as one thread would raise it.
        decoded = list(
            _pool().map(
                lambda df: decode_image(df[0][0], limits, what=df[1]), zip(frames, fields, strict=True)
            )
        )
    for i in range(len(decoded)):
        if decoded[i].shape != decoded[0].shape:
            h0, w0 = decoded[0].shape[:2]
            h, w = decoded[i].shape[:2]
            raise InvalidInput(
                f"{CLIP_FIELD}: frame {i} is {w}x{h} but frame 0 is {w0}x{h0}; all frames must match"
            )
    return Media(frames=tuple(decoded), timestamps_ms=tuple(int(t) for _, t in frames), is_clip=is_clip)


def frames_on_demand(
    frames: Sequence[tuple[bytes, int]],
    limits: MediaLimits = DEFAULT_LIMITS,
    *,
    indexes: Sequence[int] | None = None,
    clip: Sequence[tuple[bytes, int]] | None = None,
) -> Media:
    """decode_frames' checks from the frames' headers, with each frame decoded when first read (LazyFrames).

    `clip` with `indexes`: `frames` are this subsample of `clip`, whose every frame is checked (timing and
    headers) and must have the size of the others; messages name frames by their index in `clip`.
    """
    whole = frames if clip is None else clip
    check_clip_timing(whole, limits)
    sizes = [
        probe_image(data, limits, what=frame_field(i), oriented=True) for i, (data, _) in enumerate(whole)
    ]
    for i, (w, h) in enumerate(sizes):
        if (w, h) != sizes[0]:
            w0, h0 = sizes[0]
            raise InvalidInput(
                f"{CLIP_FIELD}: frame {i} is {w}x{h} but frame 0 is {w0}x{h0}; all frames must match"
            )
    names = list(indexes) if indexes is not None else list(range(len(frames)))
    return Media(
        frames=LazyFrames([data for data, _ in frames], names, limits, sizes[0]),
        timestamps_ms=tuple(int(t) for _, t in frames),
        is_clip=True,
    )


class LazyFrames(Sequence[RGBImage]):
    """The frames of a clip whose headers passed every check, each decoded when first read and then kept.

    A frame whose data turns out corrupt, or whose pixels differ in size from its header, raises
    InvalidInput naming its field when read. Safe to read from several threads (a frame two threads read at
    once may be decoded twice).
    """

    def __init__(
        self, data: Sequence[bytes], names: Sequence[int], limits: MediaLimits, size: tuple[int, int]
    ):
        self._data = list(data)
        self._names = list(names)
        self._limits = limits
        self._size = size  # (width, height) of every frame
        self._decoded: dict[int, RGBImage] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    @overload
    def __getitem__(self, index: int) -> RGBImage: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[RGBImage, ...]: ...

    def __getitem__(self, index: int | slice) -> RGBImage | tuple[RGBImage, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        i = range(len(self))[index]  # negative indexes count from the end; IndexError past it
        with self._lock:
            found = self._decoded.get(i)
        if found is None:
            what = frame_field(self._names[i])
            found = decode_image(self._data[i], self._limits, what=what)
            w, h = self._size
            if found.shape[:2] != (h, w):
                raise InvalidInput(
                    f"{what}: decodes to {found.shape[1]}x{found.shape[0]}, its header says {w}x{h}"
                )
            with self._lock:
                self._decoded[i] = found
        return found

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of every frame, from the headers."""
        return (self._size[1], self._size[0])

    @property
    def decoded(self) -> int:
        """How many frames have been decoded so far."""
        with self._lock:
            return len(self._decoded)


DECODE_THREADS = 4
PARALLEL_FROM = 4
"""Clips of at least this many frames are decoded on the pool (fewer are not worth the hand-over)."""


@cache
def _pool() -> ThreadPoolExecutor:
    """The decoding threads, one per core (at most DECODE_THREADS), made on first use."""
    return ThreadPoolExecutor(
        max_workers=max(1, min(DECODE_THREADS, os.cpu_count() or 1)), thread_name_prefix="decode"
    )


def encode_jpeg(image: RGBImage, quality: int = 92) -> bytes:
    """RGB array to JPEG bytes (for clients building requests from decoded video)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
