"""The bad-input battery: hostile and odd requests with the answer each must get.

Every case is one request (media plus optional face regions, challenge, reference) and the documented
outcome: INVALID_ARGUMENT with a message naming the problem, RESOURCE_EXHAUSTED for a message over the
transport limit (gRPC refuses it before any code runs), or OK for valid but unusual input, which is decoded
to the frame size given here. The same cases run against the shared TestServicer and against the gateway
(cases with face regions only against tests: the gateway's contract has no such field).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from liveness.client import clip_media, image_media
from liveness.v1 import liveness_pb2 as pb
from tests.reliability import media as m

MAX_MESSAGE_BYTES = 12 * 1024 * 1024
"""Transport limit of the servers the battery runs against (the image limit stays at its 8 MiB default)."""

IMAGE_LIMIT_BYTES = 8 * 1024 * 1024

INVALID = "INVALID_ARGUMENT"
OK = "OK"
TOO_BIG = "RESOURCE_EXHAUSTED"

TEST_STATUSES = frozenset(
    {
        pb.STATUS_OK,
        pb.STATUS_NOT_APPLICABLE,
        pb.STATUS_NO_FACE,
        pb.STATUS_MULTIPLE_FACES,
        pb.STATUS_LOW_QUALITY,
    }
)
"""Statuses a test itself may answer with; TIMEOUT/UNAVAILABLE/ERROR are the gateway's to set."""


@dataclass(frozen=True)
class Case:
    """One request and its documented answer; `message` is a regex searched in the status details."""

    id: str
    media: pb.Media
    expect: str
    message: str = ""
    faces: tuple[pb.FaceRegion, ...] = ()
    challenge: pb.Challenge | None = None
    reference: pb.Image | None = None
    shape: tuple[int, int] | None = None  # (height, width) of the decoded frames, for OK cases
    frames: int = 1

    def check_request(self) -> pb.CheckRequest:
        return pb.CheckRequest(
            request_id=f"battery-{self.id}",
            media=self.media,
            faces=self.faces,
            challenge=self.challenge,
            reference=self.reference,
        )

    def evaluate_request(self) -> pb.EvaluateRequest:
        return pb.EvaluateRequest(
            request_id=f"battery-{self.id}",
            media=self.media,
            challenge=self.challenge,
            reference=self.reference,
        )

    @property
    def for_gateway(self) -> bool:
        return not self.faces


@dataclass(frozen=True)
class _Region:
    """Shorthand for a FaceRegion with a box (None: no box)."""

    frame_index: int = 0
    count: int = 1
    box: tuple[float, float, float, float] | None = (8, 8, 56, 56)
    landmarks: int = 0
    landmark_value: float = 30.0

    def proto(self) -> pb.FaceRegion:
        region = pb.FaceRegion(frame_index=self.frame_index, face_count=self.count)
        if self.box is not None:
            left, top, right, bottom = self.box
            region.box.CopyFrom(pb.Box(left=left, top=top, right=right, bottom=bottom))
        region.landmarks.extend(pb.Point(x=self.landmark_value, y=30.0) for _ in range(self.landmarks))
        return region


def _clip(n: int, timestamps: list[int] | None = None, frames: list[bytes] | None = None) -> pb.Media:
    frames = frames or [m.jpeg(seed=i % 4) for i in range(n)]
    timestamps = timestamps if timestamps is not None else [40 * i for i in range(len(frames))]
    return clip_media(list(zip(frames, timestamps, strict=True)))


def _img(data: bytes) -> pb.Media:
    return image_media(data)


@functools.cache
def cases() -> tuple[Case, ...]:
    """All cases, built once per process (the 1000-frame clip and the 13 MiB message are the big ones)."""
    good = m.jpeg()
    jpeg = m.jpeg(seed=1)
    side = (m.SIDE, m.SIDE)
    return (
        # -- single images: refused ------------------------------------------------------------------------
        Case("unset-media", pb.Media(), INVALID, "set either image or clip"),
        Case("empty-image", _img(b""), INVALID, "empty image data"),
        Case("random-bytes", _img(bytes(range(256)) * 8), INVALID, "not a JPEG, PNG or WebP"),
        Case("truncated-jpeg-header", _img(jpeg[:200]), INVALID, "(?i)truncated|not a JPEG"),
        Case("truncated-jpeg-data", _img(jpeg[: len(jpeg) // 2]), INVALID, "(?i)truncated"),
        Case("png-decompression-bomb", _img(m.png_bomb()), INVALID, "10000x10000 pixels exceeds the limit"),
        Case("png-header-20000x20000", _img(m.png_header_only()), INVALID, "more than the limit"),
        Case(
            "jpeg-header-20000x20000", _img(m.jpeg_declaring(20_000, 20_000)), INVALID, "more than the limit"
        ),
        Case("png-ztxt-bomb", _img(m.png_metadata_bomb(b"zTXt")), INVALID, "unreadable image header"),
        Case("png-iccp-bomb", _img(m.png_metadata_bomb(b"iCCP")), INVALID, "unreadable image header"),
        Case("png-corrupt-idat", _img(m.png_bad_crc()), INVALID, "corrupt or truncated PNG"),
        Case(
            "webp-truncated", _img(m.other_format("WEBP")[:40]), INVALID, "(?i)unreadable|truncated|corrupt"
        ),
        Case("1x1", _img(m.tiny_png(1)), INVALID, "1x1 is smaller than 32 pixels"),
        Case("31x31", _img(m.tiny_png(31)), INVALID, "smaller than 32 pixels"),
        Case("gif", _img(m.other_format("GIF")), INVALID, "format GIF is not supported"),
        Case("bmp", _img(m.other_format("BMP")), INVALID, "format BMP is not supported"),
        Case("tiff", _img(m.other_format("TIFF")), INVALID, "format TIFF is not supported"),
        Case("animated-png", _img(m.animated("PNG")), INVALID, "animated images are not supported"),
        Case("animated-webp", _img(m.animated("WEBP")), INVALID, "animated images are not supported"),
        Case(
            "image-over-byte-limit",
            _img(good + b"\0" * (IMAGE_LIMIT_BYTES + 1 - len(good))),
            INVALID,
            "exceeds the limit of 8388608 bytes",
        ),
        Case("oversize-message", _img(b"\xff" * (MAX_MESSAGE_BYTES + 1024 * 1024)), TOO_BIG),
        # -- single images: valid oddities, accepted and decoded -------------------------------------------
        Case("baseline-jpeg", _img(good), OK, shape=side),
        Case("greyscale-jpeg", _img(m.greyscale_jpeg()), OK, shape=side),
        Case("cmyk-jpeg", _img(m.cmyk_jpeg()), OK, shape=side),
        Case("16-bit-png", _img(m.png_16bit()), OK, shape=side),
        Case("rgba-png", _img(m.png_rgba()), OK, shape=side),
        Case("palette-transparent-png", _img(m.png_palette_transparent()), OK, shape=side),
        Case("exif-rotated-jpeg", _img(m.jpeg_exif_rotated(48, 80)), OK, shape=(80, 48)),
        Case("progressive-jpeg", _img(m.jpeg(progressive=True)), OK, shape=side),
        Case("webp", _img(m.other_format("WEBP")), OK, shape=side),
        Case("jpeg-trailing-garbage", _img(good + b"\0garbage" * 100), OK, shape=side),
        Case("png-3mb-text-chunk", _img(m.png_big_text()), OK, shape=side),
        Case("jpeg-4mb-comments", _img(m.jpeg_big_comments()), OK, shape=side),
        # -- clips -----------------------------------------------------------------------------------------
        Case("clip-0-frames", pb.Media(clip=pb.Clip()), INVALID, "media.clip.frames: no frames"),
        Case("clip-1000-frames", _clip(1000), INVALID, "1000 frames exceeds the limit of 64"),
        Case("clip-65-frames", _clip(65), INVALID, "65 frames exceeds the limit of 64"),
        Case(
            "clip-mixed-sizes",
            _clip(3, frames=[good, m.jpeg(height=48), good]),
            INVALID,
            "all frames must match",
        ),
        Case("clip-non-monotonic", _clip(3, [0, 80, 40]), INVALID, "strictly increasing"),
        Case("clip-repeated-timestamp", _clip(3, [0, 40, 40]), INVALID, "strictly increasing"),
        Case("clip-negative-timestamps", _clip(3, [-80, -40, 0]), INVALID, "non-negative"),
        Case(
            "clip-corrupt-frame",
            _clip(3, frames=[good, jpeg[:300], good]),
            INVALID,
            r"media\.clip\.frames\[1\]\.image\.data",
        ),
        Case(
            "clip-frame-without-image",
            _clip(2, frames=[good, b""]),
            INVALID,
            r"frames\[1\]\.image\.data: empty",
        ),
        Case("clip-animated-frame", _clip(2, frames=[good, m.animated("PNG")]), INVALID, "animated"),
        # 20 frames: a test keeping at most 16 (the double), 8 (cnn2d) or 3 (iqa) drops frame 2 unread.
        Case(
            "clip-subsampled-corrupt-frame",
            _clip(20, frames=[good, good, b"garbage", *[good] * 17]),
            INVALID,
            r"frames\[2\]\.image\.data: not a JPEG",
        ),
        Case(
            "clip-subsampled-odd-size-frame",
            _clip(20, frames=[good, good, m.jpeg(height=48), *[good] * 17]),
            INVALID,
            "frame 2 is 64x48 but frame 0 is 64x64",
        ),
        Case("clip-1-frame", _clip(1), OK, shape=side, frames=1),
        Case("clip-64-frames", _clip(64), OK, shape=side, frames=64),
        Case("clip-int64-timestamps", _clip(3, [0, 2**62, 2**63 - 1]), OK, shape=side, frames=3),
        # -- challenge and reference -----------------------------------------------------------------------
        Case(
            "challenge-unspecified",
            _img(good),
            INVALID,
            r"challenge\.actions\[0\]: action 0",
            challenge=pb.Challenge(actions=[0]),
        ),
        Case(
            "challenge-unknown-99",
            _img(good),
            INVALID,
            "action 99 is not",
            challenge=pb.Challenge(actions=[1, 99]),
        ),
        Case(
            "challenge-negative",
            _img(good),
            INVALID,
            "action -7 is not",
            challenge=pb.Challenge(actions=[-7]),
        ),
        Case("challenge-valid", _img(good), OK, challenge=pb.Challenge(actions=[1, 2, 5]), shape=side),
        Case(
            "reference-garbage",
            _img(good),
            INVALID,
            r"reference\.data: not a JPEG",
            reference=pb.Image(data=b"\x89PNx"),
        ),
        Case("reference-empty", _img(good), INVALID, r"reference\.data: empty", reference=pb.Image()),
        Case(
            "reference-1x1",
            _img(good),
            INVALID,
            r"reference\.data: 1x1",
            reference=pb.Image(data=m.tiny_png(1)),
        ),
        Case(
            "reference-bomb",
            _img(good),
            INVALID,
            r"reference\.data: .*exceeds",
            reference=pb.Image(data=m.png_bomb()),
        ),
        # -- face regions that do not match the frames (tests only) ----------------------------------------
        Case(
            "faces-box-outside",
            _img(good),
            INVALID,
            "outside",
            faces=(_Region(box=(0, 0, 9999, 10)).proto(),),
        ),
        Case(
            "faces-box-inverted",
            _img(good),
            INVALID,
            "outside",
            faces=(_Region(box=(50, 50, 10, 10)).proto(),),
        ),
        Case(
            "faces-box-nan",
            _img(good),
            INVALID,
            "outside",
            faces=(_Region(box=(float("nan"), 0, 9, 9)).proto(),),
        ),
        Case(
            "faces-box-inf",
            _img(good),
            INVALID,
            "outside",
            faces=(_Region(box=(0, 0, float("inf"), 9)).proto(),),
        ),
        Case(
            "faces-too-many",
            _img(good),
            INVALID,
            "2 face regions for 1 frames",
            faces=(_Region().proto(),) * 2,
        ),
        Case(
            "faces-too-few-for-clip",
            _clip(3),
            INVALID,
            "1 face regions for 3 frames",
            faces=(_Region().proto(),),
        ),
        Case(
            "faces-wrong-frame-index",
            _img(good),
            INVALID,
            r"faces\[0\]\.frame_index: 3",
            faces=(_Region(3).proto(),),
        ),
        Case(
            "faces-negative-count",
            _img(good),
            INVALID,
            r"faces\[0\]\.face_count: negative",
            faces=(_Region(count=-1).proto(),),
        ),
        Case(
            "faces-count-without-box",
            _img(good),
            INVALID,
            r"faces\[0\]\.box: unset",
            faces=(_Region(box=None).proto(),),
        ),
        Case(
            "faces-5-landmarks",
            _img(good),
            INVALID,
            r"faces\[0\]\.landmarks: 5 points",
            faces=(_Region(landmarks=5).proto(),),
        ),
        Case(
            "faces-nan-landmarks",
            _img(good),
            INVALID,
            r"faces\[0\]\.landmarks: non-finite",
            faces=(_Region(landmarks=68, landmark_value=float("nan")).proto(),),
        ),
        Case("faces-none-found", _img(good), OK, faces=(_Region(count=0, box=None).proto(),), shape=side),
        Case("faces-valid-box", _img(good), OK, faces=(_Region().proto(),), shape=side),
    )


def case_ids() -> list[str]:
    return [c.id for c in cases()]
