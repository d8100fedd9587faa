"""What a run must refresh because of changes captured by `slack-ingest listen`.

Slack's history has no "changed since" filter, and a new reply to an old thread only
shows in its parent's `latest_reply`. The listener records Slack's events (Socket Mode)
in a journal (`ingest.load.journal`); a run turns the entries it has not consumed yet
into `Changes`: per channel, the thread roots (or single messages) to re-read with one
`conversations.replies` call each, and the messages deleted (marked without a call).

Pure: no I/O. The entries are the journal's rows: `seq` (the journal's order), and the
Events API `event` object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ingest.source.settings import ts_to_micros

#: Events whose effect a run applies by re-reading metadata it reads in full every run
#: (conversations.list, conversations.members, users.list): recorded and counted, then
#: consumed once those resources are loaded.
METADATA_EVENTS = frozenset(
    {
        "channel_created",
        "channel_rename",
        "channel_archive",
        "channel_unarchive",
        "channel_deleted",
        "group_rename",
        "group_archive",
        "group_unarchive",
        "group_deleted",
        "member_joined_channel",
        "member_left_channel",
        "user_change",
        "team_join",
    }
)

#: A reaction added to or removed from a message of any age: the message is read again
#: (`conversations.replies` on its ts returns it, or its whole thread for a parent), so
#: its `reactions` column and the `reactions` table follow.
REACTION_EVENTS = frozenset({"reaction_added", "reaction_removed"})

#: Message subtypes that are not a message of their own (a change to another one).
_HIDDEN = frozenset({"message_changed", "message_deleted", "message_replied"})


@dataclass
class ChannelChanges:
    """One channel's captured changes."""

    #: ts of thread parents to re-read whole (a reply was added, edited or deleted)
    roots: set[str] = field(default_factory=set)
    #: ts of top-level messages edited (re-read unless history re-reads them anyway)
    edited: set[str] = field(default_factory=set)
    #: ts of messages deleted in Slack (a parent takes its replies with it)
    deleted: set[str] = field(default_factory=set)
    #: the journal entries these came from (consumed once applied and loaded)
    seqs: list[int] = field(default_factory=list)

    def refresh(self, reread: Callable[[str], bool] | None = None) -> list[str]:
        """Threads and messages to re-read, oldest first: a deleted one is marked, not
        read; an edited top-level message that this run's history re-reads anyway
        (`reread(ts)`) is read with its page."""
        edited = {ts for ts in self.edited if reread is None or not reread(ts)}
        return sorted((self.roots | edited) - self.deleted, key=ts_to_micros)


@dataclass
class Changes:
    """Captured changes of a run, per channel, plus the metadata entries."""

    channels: dict[str, ChannelChanges] = field(default_factory=dict)
    #: entries applied by re-reading metadata (METADATA_EVENTS) or with nothing to do
    metadata_seqs: list[int] = field(default_factory=list)

    def of(self, channel_id: str) -> ChannelChanges | None:
        return self.channels.get(channel_id)

    @property
    def entries(self) -> int:
        return len(self.metadata_seqs) + sum(len(c.seqs) for c in self.channels.values())

    def summary(self) -> dict[str, int]:
        return {
            "entries": self.entries,
            "channels": len(self.channels),
            "threads": sum(len(c.refresh()) for c in self.channels.values()),
            "deleted": sum(len(c.deleted) for c in self.channels.values()),
        }


def _root_of(msg: dict[str, Any]) -> str | None:
    """The thread a message belongs to (its parent's ts), or its own ts if top-level."""
    ts = msg.get("ts")
    thread_ts = msg.get("thread_ts")
    if thread_ts and thread_ts != ts:
        return str(thread_ts)
    return str(ts) if ts else None


def _is_reply(msg: dict[str, Any]) -> bool:
    thread_ts = msg.get("thread_ts")
    return bool(thread_ts) and thread_ts != msg.get("ts")


def classify(event: dict[str, Any]) -> tuple[str, str | None, str | None, bool]:
    """(kind, channel_id, ts, is_reply) of one event: what `changes_from` does with it.

    kind: "refresh" (re-read the thread rooted at ts), "edit" (a top-level message was
    edited), "delete" (mark ts deleted; a reply's thread is re-read too), "new" (a new
    top-level message: the history read after the cursor finds it), "metadata" or
    "ignore"."""
    etype = event.get("type")
    if etype in METADATA_EVENTS:
        return "metadata", None, None, False
    if etype in REACTION_EVENTS:  # re-read the message (a parent: with its thread)
        item = event.get("item") or {}
        if item.get("type") != "message" or not item.get("channel") or not item.get("ts"):
            return "ignore", None, None, False
        return "refresh", str(item["channel"]), str(item["ts"]), False
    if etype != "message":
        return "ignore", None, None, False
    cid = event.get("channel")
    subtype = event.get("subtype")
    if subtype == "message_changed":
        msg = event.get("message") or {}
        if _is_reply(msg):
            return "refresh", cid, _root_of(msg), True
        return "edit", cid, _root_of(msg), False
    if subtype == "message_deleted":
        prev = event.get("previous_message") or {}
        deleted = event.get("deleted_ts") or prev.get("ts")
        reply = bool(prev.get("thread_ts")) and prev.get("thread_ts") != deleted
        return "delete", cid, deleted, reply
    if subtype == "message_replied":
        msg = event.get("message") or {}
        return "refresh", cid, msg.get("ts"), False
    if subtype in _HIDDEN:
        return "ignore", None, None, False
    if _is_reply(event):  # a reply (or a thread broadcast): its thread moved
        return "refresh", cid, str(event["thread_ts"]), True
    return "new", cid, event.get("ts"), False


def changes_from(entries: Iterable[tuple[int, dict[str, Any]]]) -> Changes:
    """`Changes` from journal entries (seq, event), in journal order."""
    out = Changes()
    for seq, event in entries:
        kind, cid, ts, reply = classify(event)
        if kind in ("metadata", "ignore") or not cid or not ts:
            out.metadata_seqs.append(seq)
            continue
        ch = out.channels.setdefault(cid, ChannelChanges())
        ch.seqs.append(seq)
        if kind == "refresh":
            ch.roots.add(ts)
        elif kind == "edit":
            ch.edited.add(ts)
        elif kind == "delete":
            ch.deleted.add(ts)
            if reply:
                thread = (event.get("previous_message") or {}).get("thread_ts")
                if thread:
                    ch.roots.add(str(thread))  # its parent's reply count moved
        # "new": nothing to do beyond consuming it once the channel was read
    return out
