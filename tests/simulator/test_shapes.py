"""Every key the simulator emits exists, with the same JSON type, in Slack's samples.

Samples: tests/fixtures/slack-samples (override with SLACK_SAMPLES_DIR). A sample list may
hold differently shaped elements; its element schema is the union of them. Block Kit
blocks are one type wherever they appear, so `blocks` is checked against the union of
every *blocks list in the sample, and their `elements` against the union of every
`elements` item in them (Block Kit nests elements recursively). conversations.replies messages are checked against
the union of the replies and history message samples (the replies sample lacks e.g.
`subtype`/`root`/`client_msg_id`, which Slack does send for broadcasts and user replies).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

from .conftest import Env, Starter, count_kinds

SAMPLES = Path(
    os.environ.get(
        "SLACK_SAMPLES_DIR", Path(__file__).resolve().parents[1] / "fixtures" / "slack-samples"
    )
)


class Node:
    __slots__ = ("types", "keys", "item")

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.keys: dict[str, Node] = {}
        self.item: Node | None = None


def jtype(v: Any) -> str:
    if v is None:
        return "null"
    for t, name in (
        (bool, "bool"),
        (int, "int"),
        (float, "float"),
        (str, "str"),
        (list, "list"),
        (dict, "dict"),
    ):
        if isinstance(v, t):
            return name
    raise TypeError(type(v))


def merge(node: Node, value: Any) -> Node:
    node.types.add(jtype(value))
    if isinstance(value, dict):
        for k, v in value.items():
            merge(node.keys.setdefault(k, Node()), v)
    elif isinstance(value, list):
        for x in value:
            if node.item is None:
                node.item = Node()
            merge(node.item, x)
    return node


def _collect_blocks(value: Any, out: list[Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k.endswith("blocks") and isinstance(v, list):
                out.append(v)
            _collect_blocks(v, out)
    elif isinstance(value, list):
        for x in value:
            _collect_blocks(x, out)


def _merge_elements(value: Any, into: Node) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "elements" and isinstance(v, list):
                for x in v:
                    merge(into, x)
            _merge_elements(v, into)
    elif isinstance(value, list):
        for x in value:
            _merge_elements(x, into)


@cache
def schema(method: str) -> Node:
    assert SAMPLES.is_dir(), f"Slack samples not found at {SAMPLES}"
    name = "conversations.info" if method == "conversations.join" else method
    data = json.loads((SAMPLES / f"{name}.json").read_text())
    if method in ("conversations.history", "conversations.replies"):
        hist = json.loads((SAMPLES / "conversations.history.json").read_text())
        repl = json.loads((SAMPLES / "conversations.replies.json").read_text())
        msg = Node()
        for m in [hist, repl] if method == "conversations.replies" else [hist]:
            merge(msg, m["messages"][0])
        blocks: list[Any] = []
        _collect_blocks(hist, blocks)
        for b in blocks:
            merge(msg.keys["blocks"], b)
        # Block Kit `elements` nest recursively (a section holds leaves, a list holds
        # sections...); the sample spells each container out at one depth only.
        elements = Node()
        _merge_elements(blocks, elements)
        recursive = Node()
        recursive.types.add("list")
        recursive.item = elements
        elements.keys["elements"] = recursive
        assert msg.keys["blocks"].item is not None
        msg.keys["blocks"].item.keys["elements"] = recursive
        root = merge(Node(), {k: v for k, v in data.items() if k != "messages"})
        root.keys["messages"] = Node()
        root.keys["messages"].types.add("list")
        root.keys["messages"].item = msg
        return root
    return merge(Node(), data)


def check(value: Any, node: Node, path: str, errors: list[str]) -> None:
    if value is None:
        return
    t = jtype(value)
    if node.types - {"null"} and t not in node.types:
        errors.append(f"{path}: {t}, sample has {sorted(node.types)}")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            child = node.keys.get(k)
            if child is None:
                errors.append(f"{path}.{k}: not in the sample")
            else:
                check(v, child, f"{path}.{k}", errors)
    elif isinstance(value, list):
        for x in value:
            if node.item is None:
                errors.append(f"{path}[]: the sample list is empty")
                return
            check(x, node.item, f"{path}[]", errors)


async def test_every_response_matches_the_samples(serve: Starter) -> None:
    env: Env = await serve("small")
    ws, c = env.ws, env.client
    cid = ws.channels[1].id
    # make sure mutation-made shapes are covered too
    p = ws.post_message(cid, text="parent")
    ws.add_reply(cid, p, broadcast=True)
    ws.edit_message(cid, p, "edited parent")
    env.sim.add_token("xoxb-narrow", scopes={"users:read"})

    responses: list[tuple[str, dict[str, Any]]] = []

    async def grab(method: str, **params: Any) -> dict[str, Any]:
        r = await c.call(method, **params)
        assert r.status == 200, r.body
        responses.append((method, r.body))
        return r.body

    async def grab_all(method: str, **params: Any) -> list[dict[str, Any]]:
        pages = await c.pages(method, **params)
        responses.extend((method, b) for b in pages)
        return pages

    await grab("auth.test")
    await grab("team.info")
    await grab_all("users.list", limit=20)
    for u in ws.users[:5] + [u for u in ws.users if u.deleted or u.is_bot]:
        await grab("users.info", user=u.id)
    chans = await grab_all("conversations.list", types="public_channel,private_channel", limit=10)
    for page in chans:
        for ch in page["channels"]:
            await grab("conversations.info", channel=ch["id"])
            await grab_all("conversations.members", channel=ch["id"], limit=50)
            if not ch["is_member"]:
                continue
            for hp in await grab_all("conversations.history", channel=ch["id"], limit=200):
                for m in hp["messages"]:
                    if m.get("reply_count"):
                        await grab_all(
                            "conversations.replies", channel=ch["id"], ts=m["ts"], limit=200
                        )
    other = next(
        ch for ch in ws.channels if not ch.is_private and not ch.is_member and not ch.is_archived
    )
    await grab("conversations.join", channel=other.id)
    await grab("conversations.join", channel=other.id)
    # error bodies
    await grab("conversations.history", channel=cid, token="xoxb-narrow")
    await grab("conversations.replies", channel=cid, ts="1.0")
    await grab("conversations.info", channel="CNOPE")
    await grab("users.info", user="UNOPE")

    errors: list[str] = []
    seen: Counter[str] = Counter()
    for method, body in responses:
        check(body, schema(method), method, errors)
        count_kinds(body.get("messages", ()), seen)
        if len(errors) > 20:
            break
    assert not errors, "\n".join(errors[:20])
    assert {r[0] for r in responses} >= {
        "auth.test",
        "team.info",
        "users.list",
        "users.info",
        "conversations.list",
        "conversations.info",
        "conversations.members",
        "conversations.history",
        "conversations.replies",
        "conversations.join",
    }
    for kind in ("plain", "bot_message", "channel_join", "thread_broadcast", "reactions", "files"):
        assert seen[kind], kind
    for kind in ("attachments", "blocks", "edited", "root", "reply_count", "parent_user_id"):
        assert seen[kind], kind


def test_checker_rejects_unknown_keys_and_wrong_types() -> None:
    node = schema("users.info")
    errors: list[str] = []
    check(
        {"ok": True, "user": {"id": 5, "bogus": 1, "profile": {"image_24": None}}},
        node,
        "u",
        errors,
    )
    assert errors == ["u.user.id: int, sample has ['str']", "u.user.bogus: not in the sample"]
