"""liveness: self-hosted face presentation-attack detection over gRPC."""

__version__ = "0.1.0"
