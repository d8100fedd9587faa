"""What each loaded table and column means: the data behind docs/SCHEMA.md.

Keys are dlt's column names; a key ending in `*` covers every column starting with it.
`ingest/load/schema_doc.py` renders these next to the types in the loaded dlt schema, and
a test fails when a loaded column has no meaning here (or a meaning names no column).
"""

from __future__ import annotations

TABLES: dict[str, str] = {
    "team": "The workspace (`team.info`): one row.",
    "channels": (
        "Every conversation the token can see (`conversations.list`), one row per channel, "
        "re-read in full on every run, so renames, archiving and membership counts are current."
    ),
    "users": "Every user and bot of the workspace (`users.list`), re-read in full on every run.",
    "channel_members": (
        "Who is in each channel the run read (`conversations.members`); a channel's rows are "
        "replaced whenever it is read, so members who left disappear."
    ),
    "messages": (
        "Every message: channel history and every thread reply (`conversations.history`, "
        "`conversations.replies`). Key: (`channel_id`, `ts`). Deleted messages stay as rows "
        "with `is_deleted` true."
    ),
    "_dlt_loads": "dlt: one row per load package, with its status.",
    "_dlt_pipeline_state": (
        "dlt: the pipelines' committed state (per-channel cursors). Never holds a token."
    ),
    "_dlt_version": "dlt: every version of the dataset's schema.",
}

_DLT = {
    "_dlt_load_id": "dlt: the load package that last wrote the row (see `_dlt_loads`)",
    "_dlt_id": "dlt: a unique row id",
}

COLUMNS: dict[str, dict[str, str]] = {
    "team": {
        "id": "Workspace id (`T...`)",
        "name": "Workspace name",
        "url": "Workspace URL",
        "domain": "Workspace subdomain",
        "email_domain": "Email domain(s) allowed to sign up",
        "avatar_base_url": "Base URL of avatar images",
        "is_verified": "Whether Slack verified the organisation",
        "icon__image_default": "Whether the icon is Slack's default",
        "icon__image_*": "URL of the workspace icon at the size in the name (px)",
        "enterprise_*": "Enterprise Grid organisation this workspace belongs to",
        **_DLT,
    },
    "channels": {
        "id": "Channel id (`C...`; `G...` for older private channels)",
        "name": "Current name, without `#`",
        "name_normalized": "Name as Slack normalizes it",
        "created": "When the channel was created (UTC)",
        "updated": "When the channel's settings last changed (UTC)",
        "creator": "User id of the creator",
        "is_channel": "A public or private channel (not a DM)",
        "is_group": "A private channel of the older `groups` kind",
        "is_im": "A direct message",
        "is_mpim": "A group direct message",
        "is_private": "Private channel",
        "is_archived": "Archived: no new messages can be posted",
        "is_general": "The workspace's #general",
        "is_member": "The loading token's user or bot is a member (so the history is readable)",
        "is_shared": "Shared with another workspace",
        "is_org_shared": "Shared across an Enterprise Grid organisation",
        "is_ext_shared": "Shared with an external organisation (Slack Connect)",
        "is_pending_ext_shared": "An external share is pending",
        "unlinked": "Slack's `unlinked` marker for shared channels (0 when not)",
        "context_team_id": "Workspace the channel was listed from",
        "num_members": "Number of members when the run read it",
        "topic__value": "Channel topic",
        "topic__creator": "User id who set the topic",
        "topic__last_set": "When the topic was set (UTC; null if never)",
        "purpose__value": "Channel purpose (description)",
        "purpose__creator": "User id who set the purpose",
        "purpose__last_set": "When the purpose was set (UTC; null if never)",
        "shared_team_ids": "JSON array of the workspace ids the channel is shared with",
        "pending_shared": "JSON array of workspaces a share is pending with",
        "pending_connected_team_ids": "JSON array of teams a Slack Connect share is pending with",
        "internal_team_ids": "JSON array of the Grid workspaces the channel is in",
        "connected_team_ids": "JSON array of connected (Slack Connect) teams",
        "connected_limited_team_ids": "JSON array of connected teams with limited access",
        "previous_names": "JSON array of earlier names",
        "properties": "JSON object of channel properties (tabs, canvas, posting restrictions)",
        **_DLT,
    },
    "users": {
        "id": "User id (`U...` or `W...`)",
        "team_id": "Workspace id",
        "name": "Username (handle)",
        "real_name": "Full name as set by the user",
        "deleted": "Deactivated account",
        "color": "Colour Slack uses for the name (hex)",
        "tz": "Time zone name, e.g. Europe/Berlin",
        "tz_label": "Time zone label",
        "tz_offset": "Offset from UTC in seconds",
        "is_admin": "Workspace admin",
        "is_owner": "Workspace owner",
        "is_primary_owner": "The primary owner",
        "is_restricted": "Multi-channel guest",
        "is_ultra_restricted": "Single-channel guest",
        "is_bot": "A bot user",
        "is_app_user": "An app's user",
        "is_email_confirmed": "Email address confirmed",
        "who_can_share_contact_card": "Who may share the contact card",
        "updated": "When the profile last changed (UTC)",
        "enterprise_user": "JSON object: the user's Enterprise Grid identity",
        "profile__title": "Job title",
        "profile__phone": "Phone number",
        "profile__skype": "Skype handle",
        "profile__real_name": "Full name (profile)",
        "profile__real_name_normalized": "Full name, ASCII-normalized",
        "profile__display_name": "Display name",
        "profile__display_name_normalized": "Display name, ASCII-normalized",
        "profile__first_name": "First name",
        "profile__last_name": "Last name",
        "profile__email": "Email address (needs `users:read.email`)",
        "profile__team": "Workspace id of the profile",
        "profile__status_text": "Custom status text",
        "profile__status_emoji": "Custom status emoji",
        "profile__status_emoji_display_info": "JSON: how the status emoji is displayed",
        "profile__status_expiration": "When the custom status expires (UTC; null if never)",
        "profile__huddle_state_expiration_ts": "When the huddle state expires (UTC; null if never)",
        "profile__avatar_hash": "Hash of the avatar image",
        "profile__image_*": "URL of the profile image at the size in the name (px)",
        "profile__fields": "JSON object of custom profile fields",
        "profile__bot_id": "Bot id, for a bot user",
        "profile__api_app_id": "App id, for an app's bot user",
        "profile__always_active": "Bot shown as always active",
        **_DLT,
    },
    "channel_members": {
        "channel_id": "Channel id",
        "user_id": "Member's user id",
        **_DLT,
    },
    "messages": {
        "channel_id": "Channel id (key, with `ts`)",
        "ts": "Slack's message timestamp, an exact string `seconds.micros` (key, with `channel_id`)",
        "thread_ts": "The thread's parent `ts`: equals `ts` on a parent, null on a plain message",
        "ts_at": "When the message was posted (UTC), from `ts`",
        "is_reply": "A thread reply (`thread_ts` set and not `ts`); broadcasts included",
        "edited_ts": "Exact `ts` of the last edit (null if never edited)",
        "edited_at": "When the message was last edited (UTC)",
        "latest_reply": "On a thread parent: exact `ts` of the latest reply",
        "latest_reply_at": "On a thread parent: when the latest reply was posted (UTC)",
        "is_deleted": "Deleted in Slack (the row is kept and marked)",
        "deleted_at": "When slack-ingest saw the deletion (UTC)",
        "type": "Always `message`",
        "subtype": "Slack subtype: null for a plain message, `thread_broadcast`, `bot_message`, "
        "`channel_join`, ...",
        "user": "Author's user id",
        "bot_id": "Author's bot id, for bot messages",
        "app_id": "App that posted it",
        "team": "Author's workspace id",
        "text": "Message text (Slack markup)",
        "client_msg_id": "Client-side id of the message",
        "parent_user_id": "On a reply: the parent's author",
        "username": "Display name a bot or integration posted under",
        "inviter": "On a join message: who invited",
        "topic": "On a topic-change message: the new topic",
        "purpose": "On a purpose-change message: the new purpose",
        "reply_count": "On a thread parent: number of replies",
        "reply_users_count": "On a thread parent: number of distinct repliers",
        "is_locked": "Thread locked",
        "subscribed": "The token's user follows the thread",
        "display_as_bot": "Shown as posted by a bot",
        "upload": "Posted with a file upload",
        "reactions": "JSON array of reactions: emoji name, count, users",
        "files": "JSON array of attached files' metadata",
        "attachments": "JSON array of legacy attachments",
        "blocks": "JSON array of Block Kit blocks",
        "root": "On a broadcast reply: JSON of its thread's parent",
        "edited": "JSON: who edited and the edit's ts",
        "bot_profile": "JSON: the posting bot's profile",
        "icons": "JSON: icons a bot posted with",
        "metadata": "JSON: app-supplied message metadata",
        "reply_users": "On a thread parent: JSON array of up to 5 repliers",
        "pinned_to": "JSON array of channels the message is pinned in",
        "x_files": "JSON array of file ids",
        "assistant_app_thread": "JSON: AI assistant thread details",
        "extra": "JSON object of every field Slack sent that has no column of its own",
    },
    "_dlt_loads": {
        "load_id": "Load package id",
        "schema_name": "Schema name",
        "status": "0 when loaded",
        "inserted_at": "When the package was loaded",
        "schema_version_hash": "Schema version the package was loaded with",
    },
    "_dlt_pipeline_state": {
        "version": "State version",
        "engine_version": "dlt state engine version",
        "pipeline_name": "Pipeline the state belongs to",
        "state": "The state, compressed",
        "created_at": "When it was written",
        "version_hash": "State hash",
        **_DLT,
    },
    "_dlt_version": {
        "version": "Schema version",
        "engine_version": "dlt schema engine version",
        "inserted_at": "When it was written",
        "schema_name": "Schema name",
        "version_hash": "Schema hash",
        "schema": "The schema, as JSON",
    },
}


def meaning(table: str, column: str) -> str | None:
    cols = COLUMNS.get(table, {})
    if column in cols:
        return cols[column]
    for key, text in cols.items():
        if key.endswith("*") and column.startswith(key[:-1]):
            return text
    return None
