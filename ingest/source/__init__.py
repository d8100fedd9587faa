"""The dlt source for Slack, built on ingest.slack: its public surface.

Everything outside `ingest/source` imports from here, never from the modules inside
(tests of those modules excepted). The names below are the contract with the load layer,
the CLI and the flows.
"""

from ingest.source import logfilter
from ingest.source.arrow import COLUMN_HINTS, message_to_row, messages_to_arrow
from ingest.source.fanout import HistoryFanout, client_for, run_async
from ingest.source.progress import LoadProgress
from ingest.source.reconcile import reconcile
from ingest.source.resources import (
    MessageStream,
    SlackContext,
    channel_states_of,
    list_channels,
    make_source,
    saved_channel_states,
    slack_source,
    start_history,
)
from ingest.source.selection import ChannelPlan, plan_channels
from ingest.source.settings import (
    ConfigError,
    LoadSettings,
    check_token,
    format_ts,
    ts_from_date,
    ts_to_micros,
)
from ingest.source.state import merge_states

logfilter.install()

__all__ = [
    "COLUMN_HINTS",
    "HistoryFanout",
    "message_to_row",
    "messages_to_arrow",
    "ChannelPlan",
    "ConfigError",
    "LoadProgress",
    "LoadSettings",
    "MessageStream",
    "SlackContext",
    "channel_states_of",
    "check_token",
    "client_for",
    "format_ts",
    "list_channels",
    "make_source",
    "merge_states",
    "plan_channels",
    "reconcile",
    "run_async",
    "saved_channel_states",
    "slack_source",
    "start_history",
    "ts_from_date",
    "ts_to_micros",
]
