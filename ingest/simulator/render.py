"""JSON builders for users, channels, team and message parts, shaped like slack-samples/.

Every key emitted here exists, with the same JSON type, in the matching sample file
(checked by tests/simulator/test_shapes.py).
"""

from __future__ import annotations

from typing import Any

from .hashing import Draw, make_id
from .model import Channel, User, UserGroup
from .textgen import EMOJI, EMOJI_NAMES, text_slice

_AVATAR = "https://avatars.slack-edge.com/sim/{h}_{size}.png"


def user_obj(u: User, team_id: str) -> dict[str, Any]:
    h = u.id.lower()
    profile: dict[str, Any] = {
        "title": u.title,
        "phone": "",
        "skype": "",
        "real_name": u.real_name,
        "real_name_normalized": u.real_name,
        "display_name": u.display_name,
        "display_name_normalized": u.display_name,
        "status_text": "",
        "status_emoji": "",
        "status_emoji_display_info": [],
        "status_expiration": 0,
        "avatar_hash": "g" + h[-11:],
        "first_name": u.first_name,
        "last_name": u.last_name,
        "image_24": _AVATAR.format(h=h, size=24),
        "image_32": _AVATAR.format(h=h, size=32),
        "image_48": _AVATAR.format(h=h, size=48),
        "image_72": _AVATAR.format(h=h, size=72),
        "image_192": _AVATAR.format(h=h, size=192),
        "image_512": _AVATAR.format(h=h, size=512),
        "team": team_id,
    }
    if u.is_bot:
        profile["bot_id"] = u.bot_id
        profile["api_app_id"] = u.app_id
        profile["always_active"] = True
    else:
        profile["email"] = f"{u.name}@example.com"
    d: dict[str, Any] = {
        "id": u.id,
        "team_id": team_id,
        "name": u.name,
        "deleted": u.deleted,
        "color": u.color,
        "real_name": u.real_name,
    }
    if not u.deleted:
        d["tz"], d["tz_label"], d["tz_offset"] = u.tz
    d["profile"] = profile
    if not u.deleted:
        d.update(
            is_admin=u.is_admin,
            is_owner=u.is_owner,
            is_primary_owner=u.is_owner,
            is_restricted=u.is_restricted,
            is_ultra_restricted=False,
        )
    d.update(is_bot=u.is_bot, is_app_user=False, updated=u.updated)
    if not u.is_bot:
        d["is_email_confirmed"] = True
        d["who_can_share_contact_card"] = "EVERYONE"
    return d


def channel_obj(ch: Channel, team_id: str) -> dict[str, Any]:
    return {
        "id": ch.id,
        "name": ch.name,
        "is_channel": True,
        "is_group": False,
        "is_im": False,
        "is_mpim": False,
        "is_private": ch.is_private,
        "created": ch.created,
        "is_archived": ch.is_archived,
        "is_general": ch.is_general,
        "unlinked": 0,
        "name_normalized": ch.name,
        "is_shared": False,
        "is_org_shared": False,
        "is_ext_shared": False,
        "is_pending_ext_shared": False,
        "pending_shared": [],
        "context_team_id": team_id,
        "updated": ch.created * 1000 + 123,
        "creator": ch.creator,
        "is_member": ch.is_member,
        "shared_team_ids": [team_id],
        "pending_connected_team_ids": [],
        "topic": {
            "value": ch.topic,
            "creator": ch.creator if ch.topic else "",
            "last_set": ch.created if ch.topic else 0,
        },
        "purpose": {
            "value": ch.purpose,
            "creator": ch.creator if ch.purpose else "",
            "last_set": ch.created if ch.purpose else 0,
        },
        "previous_names": list(ch.previous_names),
        "num_members": len(ch.members),
    }


def im_obj(ch: Channel, team_id: str, other: User | None) -> dict[str, Any]:
    """An im as conversations.list/info show it: no name, no is_member; `user` is the
    other party as seen by the token's user."""
    return {
        "id": ch.id,
        "created": ch.created,
        "is_archived": False,
        "is_im": True,
        "is_org_shared": False,
        "context_team_id": team_id,
        "updated": ch.created * 1000 + 123,
        "user": other.id if other is not None else ch.dm_user,
        "is_user_deleted": bool(other is not None and other.deleted),
        "priority": 0,
    }


def mpim_obj(ch: Channel, team_id: str) -> dict[str, Any]:
    """An mpim (group DM): a private group named mpdm-<a>--<b>--<c>-1."""
    return {
        "id": ch.id,
        "name": ch.name,
        "is_channel": False,
        "is_group": True,
        "is_im": False,
        "is_mpim": True,
        "is_private": True,
        "created": ch.created,
        "is_archived": False,
        "is_general": False,
        "unlinked": 0,
        "name_normalized": ch.name,
        "is_shared": False,
        "is_org_shared": False,
        "is_ext_shared": False,
        "is_pending_ext_shared": False,
        "pending_shared": [],
        "context_team_id": team_id,
        "updated": ch.created * 1000 + 123,
        "creator": ch.creator,
        "is_member": True,
        "shared_team_ids": [team_id],
        "pending_connected_team_ids": [],
        "topic": {"value": ch.topic, "creator": "", "last_set": 0},
        "purpose": {"value": ch.purpose, "creator": ch.creator, "last_set": ch.created},
        "previous_names": [],
        "num_members": len(ch.members),
    }


def usergroup_obj(
    g: UserGroup, team_id: str, include_users: bool, include_count: bool
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": g.id,
        "team_id": team_id,
        "is_usergroup": True,
        "is_subteam": True,
        "name": g.name,
        "description": g.description,
        "handle": g.handle,
        "is_external": False,
        "date_create": g.date_create,
        "date_update": g.date_update,
        "date_delete": g.date_delete,
        "auto_type": None,
        "created_by": g.created_by,
        "updated_by": g.updated_by,
        "deleted_by": g.deleted_by,
        "prefs": {"channels": list(g.channels), "groups": []},
    }
    if include_users:
        d["users"] = list(g.users)
    if include_count:
        d["user_count"] = len(g.users)
    return d


def file_obj(f: dict[str, Any], ch: Channel, share: dict[str, Any] | None) -> dict[str, Any]:
    """A files.list entry: the message's file plus where it is shared (share None: its
    message was deleted, the file stays with no shares)."""
    out = dict(f)
    out["channels"], out["groups"], out["ims"] = [], [], []
    out["shares"] = {}
    if share is not None:
        where = "ims" if ch.is_im else ("groups" if ch.is_private else "channels")
        out[where] = [ch.id]
        out["shares"] = {"private" if ch.is_private else "public": {ch.id: [share]}}
    return out


def team_obj(team_id: str, name: str, domain: str) -> dict[str, Any]:
    icon = "https://a.slack-edge.com/sim/img/avatars-teams/ava_0001-{}.png"
    return {
        "id": team_id,
        "name": name,
        "url": f"https://{domain}.slack.com/",
        "domain": domain,
        "email_domain": "example.com",
        "icon": {
            "image_34": icon.format(34),
            "image_44": icon.format(44),
            "image_68": icon.format(68),
            "image_88": icon.format(88),
            "image_102": icon.format(102),
            "image_132": icon.format(132),
            "image_230": icon.format(230),
            "image_default": True,
        },
        "avatar_base_url": "https://ca.slack-edge.com/",
        "is_verified": False,
    }


def bot_profile(bot: User, team_id: str) -> dict[str, Any]:
    img = f"https://avatars.slack-edge.com/sim/{bot.bot_id.lower()}_{{}}.png"
    return {
        "id": bot.bot_id,
        "deleted": bot.deleted,
        "name": bot.name,
        "updated": bot.updated,
        "app_id": bot.app_id,
        "icons": {
            "image_36": img.format(36),
            "image_48": img.format(48),
            "image_72": img.format(72),
        },
        "team_id": team_id,
    }


def rich_text_blocks(text: str, block_id: str) -> list[dict[str, Any]]:
    """A rich_text block as Slack's clients produce for a plain message."""
    elements: list[dict[str, Any]] = []
    if text.startswith("<@U") and "> " in text[:16]:
        uid, rest = text[2:].split("> ", 1)
        elements.append({"type": "user", "user_id": uid})
        elements.append({"type": "text", "text": " " + rest})
    else:
        elements.append({"type": "text", "text": text})
    if text.endswith("!"):
        elements.append({"type": "emoji", "name": "tada", "unicode": "1f389"})
    return [
        {
            "type": "rich_text",
            "block_id": block_id,
            "elements": [{"type": "rich_text_section", "elements": elements}],
        }
    ]


def block_id(h: int) -> str:
    return make_id("", h, 5).lower()


def reactions(d: Draw, authors: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(1 + d.below(3)):
        users = sorted({d.pick(authors) for _ in range(1 + d.below(4))})
        name = d.pick(EMOJI_NAMES)
        if any(r["name"] == name for r in out):
            continue
        out.append({"name": name, "users": users, "count": len(users)})
    return out


_FILE_KINDS = (
    ("report.pdf", "application/pdf", "pdf", "PDF"),
    ("screenshot.png", "image/png", "png", "PNG"),
    ("notes.txt", "text/plain", "text", "Plain Text"),
    ("data.csv", "text/csv", "csv", "CSV"),
)


def files(
    d: Draw, user: str, team_id: str, domain: str, sec: int, is_public: bool = True
) -> list[dict[str, Any]]:
    out = []
    for _ in range(1 + (d.below(4) == 0)):
        fid = make_id("F", d.u64())
        name, mime, ftype, pretty = d.pick(_FILE_KINDS)
        url = f"https://files.slack.com/files-pri/{team_id}-{fid}/{name}"
        f: dict[str, Any] = {
            "id": fid,
            "created": sec,
            "timestamp": sec,
            "name": name,
            "title": name.rsplit(".", 1)[0].title(),
            "mimetype": mime,
            "filetype": ftype,
            "pretty_type": pretty,
            "user": user,
            "user_team": team_id,
            "editable": ftype in ("text", "csv"),
            "size": 200 + d.below(5_000_000),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": is_public,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": url,
            "url_private_download": url.replace("files-pri", "files-pri/download"),
            "permalink": f"https://{domain}.slack.com/files/{user}/{fid}/{name}",
            "permalink_public": f"https://slack-files.com/{team_id}-{fid}-{d.u64() % 10**10:010d}",
            "has_rich_preview": False,
            "file_access": "visible",
        }
        if ftype == "png":
            f["thumb_64"] = url.replace(name, "thumb_64.png")
            f["thumb_360"] = url.replace(name, "thumb_360.png")
        out.append(f)
    return out


def attachments(d: Draw) -> list[dict[str, Any]]:
    site = d.pick(("github.com", "docs.example.com", "status.example.io", "news.example.org"))
    path = text_slice(d.u64(), 24).replace(" ", "-")
    url = f"https://{site}/{path}"
    title = text_slice(d.u64(), 40)
    return [
        {
            "id": 1,
            "fallback": f"{site}: {title}",
            "from_url": url,
            "original_url": url,
            "service_name": site,
            "service_icon": f"https://{site}/favicon.ico",
            "title": title,
            "title_link": url,
            "text": text_slice(d.u64(), 20 + d.below(300)),
            "thumb_url": f"https://{site}/thumb.png",
            "thumb_width": 250,
            "thumb_height": 250,
        }
    ]


def emoji_unicode(name: str) -> str:
    return dict(EMOJI).get(name, "")
