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
        "DM or group DM (`is_im`, `is_mpim`), re-read in full on every run, so renames, "
        "archiving and membership counts are current."
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
    "files": (
        "File metadata (`files.list`; never the file's bytes), one row per file the token "
        "can see, re-read in full on every run (`--no-files` skips it). A file Slack no "
        "longer lists (deleted, or no longer visible) keeps its last row."
    ),
    "file_shares": (
        "Which message each file was shared in: joins `files` (`file_id` = `files.id`) to "
        "`messages` (`channel_id`, `ts`). A file's rows are replaced whenever it is read."
    ),
    "usergroups": (
        "User groups (`usergroups.list`), disabled ones included (`date_delete` set), re-read "
        "in full on every run (`--no-usergroups` skips it)."
    ),
    "usergroup_members": (
        "Who is in each user group; a group's rows are replaced whenever it is read, so "
        "members who left disappear."
    ),
    "reactions": (
        "One row per emoji reaction and user on a message (the `reactions` JSON column of "
        "`messages`, as rows): joins `messages` on (`channel_id`, `ts`). A re-read message's "
        "reactions are replaced (removed ones disappear); a deleted message's are removed."
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
        "id": "Channel id (`C...`; `G...` for older private channels and group DMs; `D...` for "
        "DMs)",
        "name": "Current name, without `#` (group DMs: `mpdm-...`; DMs have none)",
        "name_normalized": "Name as Slack normalizes it",
        "created": "When the channel was created (UTC)",
        "updated": "When the channel's settings last changed (UTC)",
        "creator": "User id of the creator",
        "is_channel": "A public or private channel (not a DM)",
        "is_group": "A private channel of the older `groups` kind",
        "is_im": "A direct message (DM) between two parties (false for every other row)",
        "is_mpim": "A group direct message (false for every other row)",
        "user": "For a DM: the other party's user id (null for other conversations)",
        "is_user_deleted": "For a DM: the other party's account is deactivated",
        "priority": "For a DM: Slack's ranking of the conversation for the token's user",
        "is_private": "Private channel",
        "is_archived": "Archived: no new messages can be posted",
        "is_general": "The workspace's #general",
        "is_member": (
            "The loading token's user or bot is a member (so the history is readable); DMs "
            "leave it out: the token is part of every DM listed"
        ),
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
    "files": {
        "id": "File id (`F...`)",
        "created": "When the file was uploaded (UTC)",
        "timestamp": "Slack's `timestamp` of the file (UTC; the upload time)",
        "name": "File name",
        "title": "Title shown in Slack",
        "mimetype": "MIME type",
        "filetype": "Slack's file type (`pdf`, `png`, `text`, ...)",
        "pretty_type": "Human-readable file type",
        "user": "User id of the uploader",
        "user_team": "Workspace id of the uploader",
        "username": "Name a bot or integration uploaded it under",
        "editable": "A post or snippet that can be edited in Slack",
        "size": "Size in bytes",
        "mode": "`hosted`, `external`, `snippet` or `post`",
        "is_external": "Stored outside Slack (Google Drive, ...)",
        "external_type": "The external store, if any",
        "is_public": "Shared in a public channel",
        "public_url_shared": "A public link was created",
        "display_as_bot": "Shown as uploaded by a bot",
        "file_access": "The token's access to the file (`visible`, ...)",
        "has_rich_preview": "Slack shows a rich preview",
        "url_private": "Download URL (needs a token)",
        "url_private_download": "Download URL forcing a download (needs a token)",
        "permalink": "Link to the file in Slack",
        "permalink_public": "Public link (works only when `public_url_shared`)",
        "thumb_*": "Thumbnail URL at the size in the name (px)",
        "channels": "JSON array of public channel ids the file is shared in",
        "groups": "JSON array of private channel and group DM ids the file is shared in",
        "ims": "JSON array of DM ids the file is shared in",
        "shares": "JSON object: per channel, the messages that shared the file (see `file_shares`)",
        "pinned_to": "JSON array of channels the file is pinned in",
        "pinned_info": "JSON: who pinned the file where",
        "reactions": "JSON array of reactions on the file itself",
        "extra": "JSON object of every other nested field Slack sent (no column of its own)",
        **_DLT,
    },
    "file_shares": {
        "file_id": "File id (key, with `channel_id` and `ts`; `files.id`)",
        "channel_id": "Conversation the file was shared in",
        "ts": "Exact `ts` of the message that shared it (`messages.ts`)",
        "ts_at": "When that message was posted (UTC), from `ts`",
        "is_public": "Shared in a public channel (`shares.public`); false: private channel or DM",
        "thread_ts": "The thread's parent `ts`, when shared in a thread",
        "channel_name": "Channel name at the time of the share",
        "share_user_id": "Who shared it",
        "reply_count": "Replies to the sharing message",
        "_clear": (
            "dlt's `hard_delete` marker: a file with no shares left sends one marker row that "
            "clears its old rows; markers are never stored, so this is always null"
        ),
        **_DLT,
    },
    "usergroups": {
        "id": "User group id (`S...`)",
        "name": "Group name",
        "handle": "Mention handle (`@handle`)",
        "description": "Description",
        "is_usergroup": "Always true for a user group",
        "is_subteam": "Always true (Slack's older name for user groups)",
        "is_external": "Belongs to another organisation",
        "auto_type": "Slack-managed group (`admin`, `owner`); null for ordinary groups",
        "date_create": "When the group was created (UTC)",
        "date_update": "When the group last changed (UTC)",
        "date_delete": "When the group was disabled (UTC; null while enabled)",
        "created_by": "User id of the creator",
        "updated_by": "User id of the last editor",
        "deleted_by": "User id who disabled it (null while enabled)",
        "prefs": "JSON: the group's default channels and private channels",
        "users": "JSON array of member user ids (also the rows of `usergroup_members`)",
        "user_count": "Number of members",
        **_DLT,
    },
    "usergroup_members": {
        "usergroup_id": "User group id (key, with `user_id`; `usergroups.id`)",
        "user_id": "Member's user id",
        "_clear": (
            "dlt's `hard_delete` marker: an emptied group sends one marker row that clears its "
            "old rows; markers are never stored, so this is always null"
        ),
        **_DLT,
    },
    "reactions": {
        "channel_id": "Channel id (with `ts`: the message, `messages`)",
        "ts": "Exact `ts` of the message reacted to",
        "name": "Emoji name, without colons (`thumbsup`, `tada`, ...)",
        "user": "User id of who reacted",
        "thread_ts": "The message's thread parent `ts` (as in `messages`)",
        "ts_at": "When the message was posted (UTC), from `ts`",
        "count": (
            "Slack's count for this emoji on the message; Slack may list fewer users than "
            "the count, so a reaction can have fewer rows than its count"
        ),
        "_clear": (
            "dlt's `hard_delete` marker: a re-read message with no reactions sends one marker "
            "row that clears its old rows; markers are never stored, so this is always null"
        ),
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


#: Every table of a load has it (`ingest.source.org.stamp_team`).
TEAM_ID = (
    "The workspace (team id) the row was loaded through: an Enterprise Grid org's "
    "workspaces load into one dataset (for `users` and `usergroups`, Slack's own `team_id`)"
)


def meaning(table: str, column: str) -> str | None:
    cols = COLUMNS.get(table, {})
    if column in cols:
        return cols[column]
    if column == "team_id" and not table.startswith("_dlt"):
        return TEAM_ID
    for key, text in cols.items():
        if key.endswith("*") and column.startswith(key[:-1]):
            return text
    return None


#: What `--pii hash|drop` changes (`ingest/source/pii.py`): hash puts `h:` + HMAC-SHA256
#: (hex, salted with the `pii_salt` secret) in place of each value, the same in every table
#: and run; drop leaves the value out (null). Ids never change. Bots keep theirs.
PII_COLUMNS: dict[str, dict[str, str]] = {
    "users": {
        column: "the value"
        for column in (
            "name",
            "real_name",
            "profile__phone",
            "profile__skype",
            "profile__real_name",
            "profile__real_name_normalized",
            "profile__display_name",
            "profile__display_name_normalized",
            "profile__first_name",
            "profile__last_name",
            "profile__email",
            "profile__avatar_hash",
            "profile__image_*",
            "profile__fields",
        )
    },
    "channels": {
        c: "a group DM's value (its members' handles)"
        for c in ("name", "name_normalized", "purpose__value")
    },
    "messages": {
        "extra": "the author's `user_profile` inside (names, avatar)",
        "root": "the `user_profile` inside",
    },
}
for _table, _columns in PII_COLUMNS.items():
    for _column, _what in _columns.items():
        COLUMNS[_table][_column] += f"; `--pii hash` / `drop`: {_what} hashed / removed"
TABLES["users"] += (
    " With `--pii hash` or `--pii drop`, people's names, handles, emails, phones and profile "
    "images are hashed or left out (bots keep theirs); ids are unchanged."
)
