"""Request pacing: GCRA schedule, in-flight gate and adaptive rate, composed by ``Bucket``
and shared process-wide through a registry. See ``bucket.py`` for why each piece exists."""

from ingest.slack.pacing.adaptive import AdaptivePolicy, AdaptiveRate
from ingest.slack.pacing.bucket import Bucket, Clock
from ingest.slack.pacing.gate import InFlightGate
from ingest.slack.pacing.gcra import Gcra
from ingest.slack.pacing.registry import get_bucket, registered_buckets, reset_buckets

__all__ = [
    "AdaptivePolicy",
    "AdaptiveRate",
    "Bucket",
    "Clock",
    "Gcra",
    "InFlightGate",
    "get_bucket",
    "registered_buckets",
    "reset_buckets",
]
