"""Asyncio Slack Web API client with process-wide per-method budgets.

Imports neither dlt nor prefect nor the simulator. See docs/DESIGN.md "Client".
"""

from ingest.slack.client import DEFAULT_RETRY_AFTER_SLACK_S, AsyncSlackClient
from ingest.slack.errors import (
    ChannelNotFoundError,
    IsArchivedError,
    NotInChannelError,
    SlackAuthError,
    SlackConnectionError,
    SlackError,
    SlackFatalError,
    SlackMissingScopeError,
    SlackRequestError,
    SlackResourceError,
    SlackRetryExhaustedError,
    ThreadNotFoundError,
)
from ingest.slack.limits import (
    METHOD_TIERS,
    PAGE_SIZES,
    PROFILES,
    TIER_RATES,
    Budget,
    Limits,
    resolve_budget,
    resolve_page_size,
    validate_overrides,
)
from ingest.slack.pacing import (
    AdaptiveRate,
    Bucket,
    Gcra,
    InFlightGate,
    get_bucket,
    registered_buckets,
    reset_buckets,
)
from ingest.slack.redact import redact
from ingest.slack.retry import (
    Decision,
    Fail,
    RateLimited,
    Retry,
    RetryPolicy,
    Success,
    classify,
)
from ingest.slack.stats import ClientStats, MethodStats
from ingest.slack.transport import (
    AiohttpTransport,
    MockTransport,
    Transport,
    TransportError,
    TransportRequest,
    TransportResponse,
)

__all__ = [
    "DEFAULT_RETRY_AFTER_SLACK_S",
    "METHOD_TIERS",
    "PAGE_SIZES",
    "PROFILES",
    "TIER_RATES",
    "AdaptiveRate",
    "AiohttpTransport",
    "AsyncSlackClient",
    "Bucket",
    "Budget",
    "ChannelNotFoundError",
    "ClientStats",
    "Decision",
    "Fail",
    "Gcra",
    "InFlightGate",
    "IsArchivedError",
    "Limits",
    "MethodStats",
    "MockTransport",
    "NotInChannelError",
    "RateLimited",
    "Retry",
    "RetryPolicy",
    "SlackAuthError",
    "SlackConnectionError",
    "SlackError",
    "SlackFatalError",
    "SlackMissingScopeError",
    "SlackRequestError",
    "SlackResourceError",
    "SlackRetryExhaustedError",
    "Success",
    "ThreadNotFoundError",
    "Transport",
    "TransportError",
    "TransportRequest",
    "TransportResponse",
    "classify",
    "get_bucket",
    "redact",
    "registered_buckets",
    "reset_buckets",
    "resolve_budget",
    "resolve_page_size",
    "validate_overrides",
]
