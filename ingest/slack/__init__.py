"""Asyncio Slack Web API client with process-wide per-method budgets.

Imports neither dlt nor prefect nor the simulator. See docs/DESIGN.md "Client".
"""

from ingest.slack.budget import Bucket, get_bucket, registered_buckets, reset_buckets
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
    resolve_budget,
    resolve_page_size,
    validate_overrides,
)
from ingest.slack.redact import redact
from ingest.slack.retry import RetryPolicy
from ingest.slack.stats import ClientStats, MethodStats

__all__ = [
    "DEFAULT_RETRY_AFTER_SLACK_S",
    "METHOD_TIERS",
    "PAGE_SIZES",
    "PROFILES",
    "TIER_RATES",
    "AsyncSlackClient",
    "Bucket",
    "Budget",
    "ChannelNotFoundError",
    "ClientStats",
    "IsArchivedError",
    "MethodStats",
    "NotInChannelError",
    "RetryPolicy",
    "SlackAuthError",
    "SlackConnectionError",
    "SlackError",
    "SlackFatalError",
    "SlackMissingScopeError",
    "SlackRequestError",
    "SlackResourceError",
    "SlackRetryExhaustedError",
    "ThreadNotFoundError",
    "get_bucket",
    "redact",
    "registered_buckets",
    "reset_buckets",
    "resolve_budget",
    "resolve_page_size",
    "validate_overrides",
]
