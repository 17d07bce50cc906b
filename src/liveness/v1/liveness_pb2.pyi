from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_BLINK: _ClassVar[Action]
    ACTION_SMILE: _ClassVar[Action]
    ACTION_SURPRISE: _ClassVar[Action]
    ACTION_TURN_LEFT: _ClassVar[Action]
    ACTION_TURN_RIGHT: _ClassVar[Action]

class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_UNSPECIFIED: _ClassVar[Status]
    STATUS_OK: _ClassVar[Status]
    STATUS_NOT_APPLICABLE: _ClassVar[Status]
    STATUS_NO_FACE: _ClassVar[Status]
    STATUS_MULTIPLE_FACES: _ClassVar[Status]
    STATUS_LOW_QUALITY: _ClassVar[Status]
    STATUS_TIMEOUT: _ClassVar[Status]
    STATUS_UNAVAILABLE: _ClassVar[Status]
    STATUS_ERROR: _ClassVar[Status]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_LIVE: _ClassVar[Decision]
    DECISION_SPOOF: _ClassVar[Decision]
    DECISION_UNCERTAIN: _ClassVar[Decision]

class CheckOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECK_OUTCOME_UNSPECIFIED: _ClassVar[CheckOutcome]
    CHECK_OUTCOME_NOT_REQUESTED: _ClassVar[CheckOutcome]
    CHECK_OUTCOME_PASSED: _ClassVar[CheckOutcome]
    CHECK_OUTCOME_FAILED: _ClassVar[CheckOutcome]
    CHECK_OUTCOME_UNVERIFIED: _ClassVar[CheckOutcome]
ACTION_UNSPECIFIED: Action
ACTION_BLINK: Action
ACTION_SMILE: Action
ACTION_SURPRISE: Action
ACTION_TURN_LEFT: Action
ACTION_TURN_RIGHT: Action
STATUS_UNSPECIFIED: Status
STATUS_OK: Status
STATUS_NOT_APPLICABLE: Status
STATUS_NO_FACE: Status
STATUS_MULTIPLE_FACES: Status
STATUS_LOW_QUALITY: Status
STATUS_TIMEOUT: Status
STATUS_UNAVAILABLE: Status
STATUS_ERROR: Status
DECISION_UNSPECIFIED: Decision
DECISION_LIVE: Decision
DECISION_SPOOF: Decision
DECISION_UNCERTAIN: Decision
CHECK_OUTCOME_UNSPECIFIED: CheckOutcome
CHECK_OUTCOME_NOT_REQUESTED: CheckOutcome
CHECK_OUTCOME_PASSED: CheckOutcome
CHECK_OUTCOME_FAILED: CheckOutcome
CHECK_OUTCOME_UNVERIFIED: CheckOutcome

class Image(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("image", "timestamp_ms")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    image: Image
    timestamp_ms: int
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., timestamp_ms: _Optional[int] = ...) -> None: ...

class Clip(_message.Message):
    __slots__ = ("frames",)
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    frames: _containers.RepeatedCompositeFieldContainer[Frame]
    def __init__(self, frames: _Optional[_Iterable[_Union[Frame, _Mapping]]] = ...) -> None: ...

class Media(_message.Message):
    __slots__ = ("image", "clip")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    image: Image
    clip: Clip
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., clip: _Optional[_Union[Clip, _Mapping]] = ...) -> None: ...

class Point(_message.Message):
    __slots__ = ("x", "y")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class Box(_message.Message):
    __slots__ = ("left", "top", "right", "bottom")
    LEFT_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    RIGHT_FIELD_NUMBER: _ClassVar[int]
    BOTTOM_FIELD_NUMBER: _ClassVar[int]
    left: float
    top: float
    right: float
    bottom: float
    def __init__(self, left: _Optional[float] = ..., top: _Optional[float] = ..., right: _Optional[float] = ..., bottom: _Optional[float] = ...) -> None: ...

class FaceRegion(_message.Message):
    __slots__ = ("frame_index", "face_count", "box", "landmarks")
    FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    FACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    LANDMARKS_FIELD_NUMBER: _ClassVar[int]
    frame_index: int
    face_count: int
    box: Box
    landmarks: _containers.RepeatedCompositeFieldContainer[Point]
    def __init__(self, frame_index: _Optional[int] = ..., face_count: _Optional[int] = ..., box: _Optional[_Union[Box, _Mapping]] = ..., landmarks: _Optional[_Iterable[_Union[Point, _Mapping]]] = ...) -> None: ...

class Challenge(_message.Message):
    __slots__ = ("actions",)
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.RepeatedScalarFieldContainer[Action]
    def __init__(self, actions: _Optional[_Iterable[_Union[Action, str]]] = ...) -> None: ...

class ActionResult(_message.Message):
    __slots__ = ("action", "satisfied", "frame_index", "confidence")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SATISFIED_FIELD_NUMBER: _ClassVar[int]
    FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    action: Action
    satisfied: bool
    frame_index: int
    confidence: float
    def __init__(self, action: _Optional[_Union[Action, str]] = ..., satisfied: _Optional[bool] = ..., frame_index: _Optional[int] = ..., confidence: _Optional[float] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ("request_id", "media", "faces", "challenge", "reference")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    media: Media
    faces: _containers.RepeatedCompositeFieldContainer[FaceRegion]
    challenge: Challenge
    reference: Image
    def __init__(self, request_id: _Optional[str] = ..., media: _Optional[_Union[Media, _Mapping]] = ..., faces: _Optional[_Iterable[_Union[FaceRegion, _Mapping]]] = ..., challenge: _Optional[_Union[Challenge, _Mapping]] = ..., reference: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("test", "model_version", "score", "status", "detail", "latency_ms", "challenge_results")
    TEST_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_RESULTS_FIELD_NUMBER: _ClassVar[int]
    test: str
    model_version: str
    score: float
    status: Status
    detail: str
    latency_ms: float
    challenge_results: _containers.RepeatedCompositeFieldContainer[ActionResult]
    def __init__(self, test: _Optional[str] = ..., model_version: _Optional[str] = ..., score: _Optional[float] = ..., status: _Optional[_Union[Status, str]] = ..., detail: _Optional[str] = ..., latency_ms: _Optional[float] = ..., challenge_results: _Optional[_Iterable[_Union[ActionResult, _Mapping]]] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TestInfo(_message.Message):
    __slots__ = ("name", "version", "accepts_image", "accepts_clip", "min_frames", "max_frames", "recommended_threshold", "needs_face", "model_card", "supported_actions", "face_box_only", "clip_landmarks")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACCEPTS_IMAGE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTS_CLIP_FIELD_NUMBER: _ClassVar[int]
    MIN_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAMES_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    NEEDS_FACE_FIELD_NUMBER: _ClassVar[int]
    MODEL_CARD_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    FACE_BOX_ONLY_FIELD_NUMBER: _ClassVar[int]
    CLIP_LANDMARKS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    accepts_image: bool
    accepts_clip: bool
    min_frames: int
    max_frames: int
    recommended_threshold: float
    needs_face: bool
    model_card: str
    supported_actions: _containers.RepeatedScalarFieldContainer[Action]
    face_box_only: bool
    clip_landmarks: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., accepts_image: _Optional[bool] = ..., accepts_clip: _Optional[bool] = ..., min_frames: _Optional[int] = ..., max_frames: _Optional[int] = ..., recommended_threshold: _Optional[float] = ..., needs_face: _Optional[bool] = ..., model_card: _Optional[str] = ..., supported_actions: _Optional[_Iterable[_Union[Action, str]]] = ..., face_box_only: _Optional[bool] = ..., clip_landmarks: _Optional[bool] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("request_id", "media", "challenge", "reference", "session_id", "nonce")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    media: Media
    challenge: Challenge
    reference: Image
    session_id: str
    nonce: str
    def __init__(self, request_id: _Optional[str] = ..., media: _Optional[_Union[Media, _Mapping]] = ..., challenge: _Optional[_Union[Challenge, _Mapping]] = ..., reference: _Optional[_Union[Image, _Mapping]] = ..., session_id: _Optional[str] = ..., nonce: _Optional[str] = ...) -> None: ...

class TestResult(_message.Message):
    __slots__ = ("result", "weight", "fused")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    FUSED_FIELD_NUMBER: _ClassVar[int]
    result: CheckResponse
    weight: float
    fused: bool
    def __init__(self, result: _Optional[_Union[CheckResponse, _Mapping]] = ..., weight: _Optional[float] = ..., fused: _Optional[bool] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("request_id", "decision", "score", "tests", "degraded", "elapsed_ms", "detail", "face_status", "session", "checks")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TESTS_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_MS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    FACE_STATUS_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    decision: Decision
    score: float
    tests: _containers.RepeatedCompositeFieldContainer[TestResult]
    degraded: bool
    elapsed_ms: float
    detail: str
    face_status: Status
    session: SessionResult
    checks: InteractiveChecks
    def __init__(self, request_id: _Optional[str] = ..., decision: _Optional[_Union[Decision, str]] = ..., score: _Optional[float] = ..., tests: _Optional[_Iterable[_Union[TestResult, _Mapping]]] = ..., degraded: _Optional[bool] = ..., elapsed_ms: _Optional[float] = ..., detail: _Optional[str] = ..., face_status: _Optional[_Union[Status, str]] = ..., session: _Optional[_Union[SessionResult, _Mapping]] = ..., checks: _Optional[_Union[InteractiveChecks, _Mapping]] = ...) -> None: ...

class InteractiveChecks(_message.Message):
    __slots__ = ("challenge", "flash")
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    FLASH_FIELD_NUMBER: _ClassVar[int]
    challenge: CheckOutcome
    flash: CheckOutcome
    def __init__(self, challenge: _Optional[_Union[CheckOutcome, str]] = ..., flash: _Optional[_Union[CheckOutcome, str]] = ...) -> None: ...

class Color(_message.Message):
    __slots__ = ("red", "green", "blue")
    RED_FIELD_NUMBER: _ClassVar[int]
    GREEN_FIELD_NUMBER: _ClassVar[int]
    BLUE_FIELD_NUMBER: _ClassVar[int]
    red: int
    green: int
    blue: int
    def __init__(self, red: _Optional[int] = ..., green: _Optional[int] = ..., blue: _Optional[int] = ...) -> None: ...

class FlashStep(_message.Message):
    __slots__ = ("color", "duration_ms")
    COLOR_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    color: Color
    duration_ms: int
    def __init__(self, color: _Optional[_Union[Color, _Mapping]] = ..., duration_ms: _Optional[int] = ...) -> None: ...

class FlashSequence(_message.Message):
    __slots__ = ("steps",)
    STEPS_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[FlashStep]
    def __init__(self, steps: _Optional[_Iterable[_Union[FlashStep, _Mapping]]] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("session_id", "nonce", "expires_at_ms", "challenge", "flash")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    FLASH_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    nonce: str
    expires_at_ms: int
    challenge: Challenge
    flash: FlashSequence
    def __init__(self, session_id: _Optional[str] = ..., nonce: _Optional[str] = ..., expires_at_ms: _Optional[int] = ..., challenge: _Optional[_Union[Challenge, _Mapping]] = ..., flash: _Optional[_Union[FlashSequence, _Mapping]] = ...) -> None: ...

class FlashResult(_message.Message):
    __slots__ = ("status", "correlation", "satisfied", "detail")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_FIELD_NUMBER: _ClassVar[int]
    SATISFIED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    status: Status
    correlation: float
    satisfied: bool
    detail: str
    def __init__(self, status: _Optional[_Union[Status, str]] = ..., correlation: _Optional[float] = ..., satisfied: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class SessionResult(_message.Message):
    __slots__ = ("challenge_satisfied", "challenge_results", "flash")
    CHALLENGE_SATISFIED_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_RESULTS_FIELD_NUMBER: _ClassVar[int]
    FLASH_FIELD_NUMBER: _ClassVar[int]
    challenge_satisfied: bool
    challenge_results: _containers.RepeatedCompositeFieldContainer[ActionResult]
    flash: FlashResult
    def __init__(self, challenge_satisfied: _Optional[bool] = ..., challenge_results: _Optional[_Iterable[_Union[ActionResult, _Mapping]]] = ..., flash: _Optional[_Union[FlashResult, _Mapping]] = ...) -> None: ...

class LivenessDescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MediaLimits(_message.Message):
    __slots__ = ("max_image_bytes", "max_pixels", "min_side", "max_frames", "max_message_bytes")
    MAX_IMAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MIN_SIDE_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    max_image_bytes: int
    max_pixels: int
    min_side: int
    max_frames: int
    max_message_bytes: int
    def __init__(self, max_image_bytes: _Optional[int] = ..., max_pixels: _Optional[int] = ..., min_side: _Optional[int] = ..., max_frames: _Optional[int] = ..., max_message_bytes: _Optional[int] = ...) -> None: ...

class GatewayTest(_message.Message):
    __slots__ = ("name", "weight", "available", "info", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    weight: float
    available: bool
    info: TestInfo
    detail: str
    def __init__(self, name: _Optional[str] = ..., weight: _Optional[float] = ..., available: _Optional[bool] = ..., info: _Optional[_Union[TestInfo, _Mapping]] = ..., detail: _Optional[str] = ...) -> None: ...

class LivenessDescribeResponse(_message.Message):
    __slots__ = ("config_version", "limits", "budget_ms", "margin_ms", "tests", "min_clip_frames", "clip_frames_used", "sessions_enabled", "session_required", "live_threshold", "spoof_threshold")
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_MS_FIELD_NUMBER: _ClassVar[int]
    MARGIN_MS_FIELD_NUMBER: _ClassVar[int]
    TESTS_FIELD_NUMBER: _ClassVar[int]
    MIN_CLIP_FRAMES_FIELD_NUMBER: _ClassVar[int]
    CLIP_FRAMES_USED_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_ENABLED_FIELD_NUMBER: _ClassVar[int]
    SESSION_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    LIVE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SPOOF_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    config_version: str
    limits: MediaLimits
    budget_ms: float
    margin_ms: float
    tests: _containers.RepeatedCompositeFieldContainer[GatewayTest]
    min_clip_frames: int
    clip_frames_used: int
    sessions_enabled: bool
    session_required: bool
    live_threshold: float
    spoof_threshold: float
    def __init__(self, config_version: _Optional[str] = ..., limits: _Optional[_Union[MediaLimits, _Mapping]] = ..., budget_ms: _Optional[float] = ..., margin_ms: _Optional[float] = ..., tests: _Optional[_Iterable[_Union[GatewayTest, _Mapping]]] = ..., min_clip_frames: _Optional[int] = ..., clip_frames_used: _Optional[int] = ..., sessions_enabled: _Optional[bool] = ..., session_required: _Optional[bool] = ..., live_threshold: _Optional[float] = ..., spoof_threshold: _Optional[float] = ...) -> None: ...
