"""`plan_channels`: one entry that lists (with an open client or a token) and plans."""

from __future__ import annotations

import asyncio
from typing import Any

from ingest.source import LoadSettings, plan_channels, plan_from_list

CHANNELS = [
    {"id": "C2", "name": "general", "is_member": True},
    {"id": "C1", "name": "random", "is_member": False},
]


class _Client:
    def __init__(self) -> None:
        self.joined: list[str] = []

    async def paginate(self, method: str, **params: Any) -> Any:
        assert method == "conversations.list"
        yield {"channels": [dict(c) for c in CHANNELS]}

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        assert method == "conversations.join"
        self.joined.append(params["channel"])
        return {"ok": True}


def test_a_listed_result_is_planned_as_before():
    s = LoadSettings().validate()
    assert plan_channels(CHANNELS, s) == plan_from_list(CHANNELS, s)


def test_an_open_client_lists_plans_and_joins_only_when_asked():
    s = LoadSettings(auto_join=True).validate()
    client = _Client()
    checked = asyncio.run(plan_channels(client, s, join=False))  # type: ignore[call-overload]
    assert client.joined == []
    assert checked.readable_ids == ["C2"] and [c["id"] for c in checked.to_join] == ["C1"]
    planned = asyncio.run(plan_channels(client, s))  # type: ignore[call-overload]
    assert client.joined == ["C1"]
    assert planned.readable_ids == ["C1", "C2"]
