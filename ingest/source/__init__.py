"""The dlt source for Slack, built on ingest.slack: its public surface.

Everything outside `ingest/source` imports from here, never from the modules inside
(tests of those modules excepted). The names below are the contract with the load layer,
the CLI and the flows.

Modules: events (what the fan-out hands over), fanout (HistoryFanout: the background
loop), channel (one channel's history), threads (thread replies), handoff (the bounded
async-to-sync queue), connect (clients, run_async), cursors (per-channel state and the
windows read from it), selection + planning (which channels), context (SlackContext),
resources (the dlt source), slices (the messages resource's slices), reconcile
(deletions), arrow (the fast path), progress, settings.
"""

from ingest.source import logfilter
from ingest.source.arrow import COLUMN_HINTS, message_to_row, messages_to_arrow
from ingest.source.changes import METADATA_EVENTS, Changes, ChannelChanges, changes_from
from ingest.source.columns import CHANNEL_HINTS, USER_HINTS
from ingest.source.connect import client_for, run_async, team_of
from ingest.source.context import SlackContext
from ingest.source.cursors import merge_states
from ingest.source.events import (
    ChangesApplied,
    ChannelDone,
    ChannelSkipped,
    Checkpoint,
    End,
    Event,
    Failed,
    Fetched,
    Idle,
    MarkDeleted,
    Received,
    Reconcile,
    Rows,
)
from ingest.source.fanout import HistoryFanout
from ingest.source.files import list_files
from ingest.source.org import (
    TEAM_COLUMN,
    Org,
    discover_org,
    drop_owned_elsewhere,
    org_of_client,
    owner_team,
)
from ingest.source.pii import Pii, channel_pii, pii_for
from ingest.source.planning import list_and_plan, list_channels, plan_channels
from ingest.source.progress import LoadProgress
from ingest.source.reactions import reaction_rows
from ingest.source.reconcile import reconcile
from ingest.source.resources import (
    channel_states_of,
    make_source,
    saved_channel_states,
    slack_source,
    start_history,
)
from ingest.source.selection import ChannelPlan, plan_from_list
from ingest.source.settings import (
    ALL_COMMANDS,
    FLAGS,
    WITH_LISTEN,
    ConfigError,
    LoadSettings,
    SchemaField,
    Setting,
    check_app_token,
    check_token,
    clean_overrides,
    format_ts,
    normalize_channels,
    schema_fields,
    setting,
    ts_from_date,
    ts_to_micros,
)
from ingest.source.slices import MessageStream
from ingest.source.variants import CLEAR_COLUMN

logfilter.install()

__all__ = [
    "CLEAR_COLUMN",
    "list_files",
    "reaction_rows",
    "Pii",
    "channel_pii",
    "pii_for",
    "TEAM_COLUMN",
    "Org",
    "discover_org",
    "drop_owned_elsewhere",
    "org_of_client",
    "owner_team",
    "team_of",
    "ALL_COMMANDS",
    "CHANNEL_HINTS",
    "USER_HINTS",
    "METADATA_EVENTS",
    "WITH_LISTEN",
    "Changes",
    "ChangesApplied",
    "ChannelChanges",
    "MarkDeleted",
    "changes_from",
    "check_app_token",
    "FLAGS",
    "SchemaField",
    "Setting",
    "clean_overrides",
    "normalize_channels",
    "schema_fields",
    "setting",
    "COLUMN_HINTS",
    "ChannelDone",
    "ChannelPlan",
    "ChannelSkipped",
    "Checkpoint",
    "ConfigError",
    "End",
    "Event",
    "Failed",
    "Fetched",
    "HistoryFanout",
    "Idle",
    "LoadProgress",
    "LoadSettings",
    "MessageStream",
    "Received",
    "Reconcile",
    "Rows",
    "SlackContext",
    "channel_states_of",
    "check_token",
    "client_for",
    "format_ts",
    "list_and_plan",
    "list_channels",
    "make_source",
    "merge_states",
    "message_to_row",
    "messages_to_arrow",
    "plan_channels",
    "plan_from_list",
    "reconcile",
    "run_async",
    "saved_channel_states",
    "slack_source",
    "start_history",
    "ts_from_date",
    "ts_to_micros",
]
