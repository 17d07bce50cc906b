"""Encoded images for the bad-input battery, built in memory: valid oddities and hostile files.

Each builder returns the bytes a client could send; nothing here is read from or written to disk.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import numpy.typing as npt
from PIL import Image, PngImagePlugin

from tests.conftest import encode

SIDE = 64
"""Side of the ordinary test frames: above the decoder's 32-pixel minimum, cheap to decode and to scan."""


def rgb(seed: int = 0, height: int = SIDE, width: int = SIDE) -> npt.NDArray[np.uint8]:
    """A smooth colour gradient plus a little noise (compresses like a photo, never blank)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], axis=2)
    noise = rng.integers(0, 16, (height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def jpeg(seed: int = 0, height: int = SIDE, width: int = SIDE, **kwargs: object) -> bytes:
    return encode(rgb(seed, height, width), "JPEG", **kwargs)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, bit_depth: int, colour_type: int, raw: bytes, extra: bytes = b"") -> bytes:
    """A PNG assembled chunk by chunk, so the header can say anything the data does not."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + extra
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def png_bomb(side: int = 10_000) -> bytes:
    """A real decompression bomb: side x side 1-bit black pixels, every scanline present, ~12 kB sent."""
    return _png(side, side, 1, 0, b"\0" * ((side // 8 + 1) * side))


def png_header_only(side: int = 20_000) -> bytes:
    """A PNG whose header declares side x side RGB pixels but carries almost no data."""
    return _png(side, side, 8, 2, b"\0" * 16)


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is patched to declare width x height."""
    data = bytearray(jpeg())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_metadata_bomb(kind: bytes = b"zTXt", inflated_bytes: int = 50_000_000) -> bytes:
    """A valid 64x64 PNG with a compressed zTXt/iCCP chunk that inflates to `inflated_bytes` (~50 kB sent)."""
    raw = b"".join(b"\0" + bytes(rgb()[i]) for i in range(SIDE))
    body = b"k\0\0" + zlib.compress(b"x" * inflated_bytes, 9)
    return _png(SIDE, SIDE, 8, 2, raw, _chunk(kind, body))


def png_big_text(text_bytes: int = 3 * 1024 * 1024) -> bytes:
    """A valid PNG carrying an uncompressed tEXt chunk of `text_bytes` (large but honest metadata)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * text_bytes)
    return encode(rgb(), "PNG", pnginfo=info)


def jpeg_big_comments(segments: int = 60) -> bytes:
    """A valid JPEG with `segments` maximal COM segments (~64 kB each) right after SOI."""
    data = jpeg()
    comment = b"\xff\xfe" + struct.pack(">H", 65535) + b"c" * 65533
    return data[:2] + comment * segments + data[2:]


def png_bad_crc() -> bytes:
    """A PNG with one byte of its image data flipped, so the IDAT checksum and stream are wrong."""
    data = bytearray(encode(rgb(), "PNG"))
    idat = data.find(b"IDAT")
    data[idat + 10] ^= 0xFF
    return bytes(data)


def animated(fmt: str, frames: int = 3) -> bytes:
    images = [Image.fromarray(rgb(seed=i)) for i in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, format=fmt, save_all=True, append_images=images[1:], duration=40, loop=0)
    return buf.getvalue()


def greyscale_jpeg() -> bytes:
    return encode(rgb()[:, :, 1], "JPEG")


def cmyk_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb()).convert("CMYK").save(buf, format="JPEG")
    return buf.getvalue()


def png_16bit() -> bytes:
    """A 16-bit greyscale PNG whose high byte is the green channel of rgb()."""
    return encode(rgb()[:, :, 1].astype(np.uint16) * 257, "PNG")


def png_rgba() -> bytes:
    """RGBA with alpha 255 everywhere except a fully transparent top-left 8x8 block."""
    rgba = np.dstack([rgb(), np.full((SIDE, SIDE), 255, np.uint8)])
    rgba[:8, :8, 3] = 0
    return encode(rgba, "PNG")


def png_palette_transparent() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb()).convert("P").save(buf, format="PNG", transparency=0)
    return buf.getvalue()


def jpeg_exif_rotated(height: int = 48, width: int = 80) -> bytes:
    """A width x height JPEG tagged with EXIF orientation 6 (display rotated 90 degrees clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(rgb(height=height, width=width), "JPEG", exif=exif.tobytes())


def other_format(fmt: str) -> bytes:
    return encode(rgb(), fmt)


def tiny_png(side: int = 1) -> bytes:
    return encode(np.zeros((side, side, 3), np.uint8), "PNG")
