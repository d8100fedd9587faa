"""Fixtures: a simulator on a loopback port and a thin aiohttp client speaking Slack's API."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest

from ingest.simulator import Simulator, Workspace, serve_simulator

_SAME = object()


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.body.get("ok") is True

    @property
    def error(self) -> str | None:
        return self.body.get("error")


@dataclass
class Client:
    """Calls /api/<method> in one of several request styles.

    style: "post" (form + Bearer header), "get" (query + Bearer), "json" (JSON body + Bearer),
    "form_token" (token as a form field), "query_token" (token as a query field).
    """

    session: aiohttp.ClientSession
    base_url: str
    token: str | None
    calls: list[str] = field(default_factory=list)

    async def call(
        self, method: str, *, token: Any = _SAME, style: str = "post", **params: Any
    ) -> Resp:
        tok = self.token if token is _SAME else token
        params = {k: v for k, v in params.items() if v is not None}
        headers = (
            {"Authorization": f"Bearer {tok}"} if tok and style in ("post", "get", "json") else {}
        )
        url = self.base_url + method
        self.calls.append(method)
        if style == "get":
            req = self.session.get(url, params=_strs(params), headers=headers)
        elif style == "json":
            req = self.session.post(
                url,
                data=orjson.dumps(params),
                headers={**headers, "Content-Type": "application/json"},
            )
        elif style == "form_token":
            req = self.session.post(url, data=_strs({**params, "token": tok}))
        elif style == "query_token":
            req = self.session.get(url, params=_strs({**params, "token": tok}))
        else:
            req = self.session.post(url, data=_strs(params), headers=headers)
        async with req as r:
            raw = await r.read()
            body = (
                orjson.loads(raw)
                if r.content_type == "application/json"
                else {"_html": raw.decode()}
            )
            return Resp(r.status, dict(r.headers), body)

    async def pages(self, method: str, **params: Any) -> list[dict[str, Any]]:
        """Every page of a paginated call (asserting ok), following next_cursor to ""."""
        out: list[dict[str, Any]] = []
        cursor = params.pop("cursor", None)
        while True:
            r = await self.call(method, cursor=cursor, **params)
            assert r.ok, (method, params, r.status, r.body)
            out.append(r.body)
            cursor = r.body["response_metadata"]["next_cursor"]
            if not cursor:
                return out
            assert len(out) < 100_000


#: Optional message fields whose presence the shape tests count.
MESSAGE_FIELDS = (
    "reactions",
    "files",
    "attachments",
    "blocks",
    "edited",
    "root",
    "reply_count",
    "parent_user_id",
)


def count_kinds(messages: Iterable[dict[str, Any]], seen: Counter[str]) -> None:
    """Count each message's subtype ("plain" without one) and each MESSAGE_FIELDS it has."""
    for m in messages:
        seen[m.get("subtype", "plain")] += 1
        for k in MESSAGE_FIELDS:
            seen[k] += k in m


def _strs(params: dict[str, Any]) -> dict[str, str]:
    return {
        k: (("true" if v else "false") if isinstance(v, bool) else str(v))
        for k, v in params.items()
    }


@dataclass
class Env:
    ws: Workspace
    sim: Simulator
    client: Client


Starter = Callable[..., Awaitable[Env]]


@pytest.fixture
async def serve() -> AsyncIterator[Starter]:
    """start(size="tiny", seed=0, ws=None, **serve_kwargs) -> Env; everything stops at teardown."""
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())

        async def start(
            size: str = "tiny", seed: int = 0, ws: Workspace | None = None, **kwargs: Any
        ) -> Env:
            ws = ws or Workspace.generate(size, seed)
            kwargs.setdefault("profile", "unlimited")
            sim = await stack.enter_async_context(serve_simulator(ws, **kwargs))
            return Env(ws, sim, Client(session, sim.base_url, ws.token))

        yield start


@pytest.fixture
async def tiny(serve: Starter) -> Env:
    return await serve("tiny")
