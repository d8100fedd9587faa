"""Enterprise Grid in the flow: one flow run of `slack_pipeline` per workspace of the org.

With an org-wide token, `slack_pipeline` lists the org's workspaces (`--team`/`team_ids`
narrows them) and starts one child flow run per workspace with `team_ids=[team]` and
`org_teams` = every workspace of the load (so a channel shared between them is read once).
Each child is a whole nightly load of its workspace, sharded as usual, with its own Slack
budget (Slack's budgets are per workspace) and its own pipelines in the one dataset.

- `workspace_deployment` set (e.g. `slack_pipeline/slack-workspace`): the children are flow
  runs of that deployment, picked up by any worker of the pool, in parallel; this run holds
  one worker slot while it waits. On DuckDB the children take turns per load step (the
  load lock), not per run.
- not set: the children run here, one after another (subflows).

The analytics models are built once, by this run, after every workspace is loaded.
"""

from __future__ import annotations

import time
from typing import Any

from ingest.source import Org

POLL_S = 1.0


def logger() -> Any:
    import logging

    from prefect import get_run_logger

    try:
        return get_run_logger()
    except Exception:  # noqa: BLE001 - outside a run context
        return logging.getLogger("flows")


#: Child runs' parameters that the parent sets (the rest are the parent's own).
ORG_CHILD_KEYS = ("team_ids", "org_teams", "workspace_deployment")


class WorkspaceFailed(RuntimeError):
    """Some workspaces of the org failed; the others are loaded."""


def child_params(params: dict[str, Any], team: str, teams: tuple[str, ...]) -> dict[str, Any]:
    """One workspace's flow parameters: the parent's, for that team, models left to the
    parent (they read every workspace's rows)."""
    out = {k: v for k, v in params.items() if v is not None}
    out.update(team_ids=[team], org_teams=list(teams), workspace_deployment=None)
    return out


def run_org_pipeline(
    params: dict[str, Any], org: Org, teams: tuple[str, ...], deployment: str | None
) -> dict[str, Any]:
    started = time.monotonic()
    logger().info(
        "org %s (%s): %s workspaces %s",
        org.name,
        org.enterprise_id,
        len(teams),
        "as flow runs of " + deployment if deployment else "one after another in this run",
    )
    if deployment:
        results = _dispatch(params, teams, deployment)
    else:
        results = _in_process(params, teams)
    failed = {t: r for t, r in results.items() if r["state"] != "ok"}
    summary = {
        "mode": "org",
        "org": {"enterprise_id": org.enterprise_id, "name": org.name},
        "ok": not failed,
        "wall_s": round(time.monotonic() - started, 3),
        "workspaces": results,
    }
    _publish(summary, params)
    if failed:
        lines = "; ".join(f"{t}: {r.get('error')}" for t, r in sorted(failed.items()))
        raise WorkspaceFailed(
            f"{len(failed)} of {len(teams)} workspaces failed ({lines}); the others are "
            "loaded; rerun to continue"
        )
    return summary


def _in_process(params: dict[str, Any], teams: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    from flows.failures import explain_line
    from flows.pipeline import slack_pipeline

    out: dict[str, dict[str, Any]] = {}
    for team in teams:
        try:
            result = slack_pipeline.with_options(flow_run_name=f"workspace {team}")(
                **child_params(params, team, teams)
            )
            out[team] = {"state": "ok", "wall_s": result.get("wall_s")}
        except Exception as exc:  # noqa: BLE001 - reported per workspace
            out[team] = {"state": "failed", "error": explain_line(exc)}
    return out


def _dispatch(
    params: dict[str, Any], teams: tuple[str, ...], deployment: str
) -> dict[str, dict[str, Any]]:
    """One flow run of `deployment` per workspace; wait for all of them."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    runs: dict[Any, str] = {}
    for team in teams:
        fr: Any = run_deployment(
            deployment,
            timeout=0,
            flow_run_name=f"workspace {team}",
            parameters=child_params(params, team, teams),
        )
        runs[fr.id] = team
    out: dict[str, dict[str, Any]] = {}
    with get_client(sync_client=True) as client:
        while len(out) < len(runs):
            for run_id, team in runs.items():
                if team in out:
                    continue
                fr = client.read_flow_run(run_id)
                if fr.state is None or not fr.state.is_final():
                    continue
                if fr.state.is_completed():
                    out[team] = {"state": "ok", "flow_run": fr.name}
                else:
                    why = (fr.state.message or "").strip().splitlines()
                    out[team] = {
                        "state": "failed",
                        "flow_run": fr.name,
                        "error": f"flow run {fr.name} {fr.state.type.value.lower()}: "
                        f"{why[0] if why else 'no message'}",
                    }
            if len(out) < len(runs):
                time.sleep(POLL_S)
    return {t: out[t] for t in teams}


def _publish(summary: dict[str, Any], params: dict[str, Any]) -> None:
    from prefect.artifacts import create_markdown_artifact

    from flows.artifacts import artifact_key
    from flows.config import target_from_params

    target = target_from_params(
        {k: v for k, v in params.items() if k in _target_fields() and v is not None}
    )
    lines = [
        f"# Org {summary['org']['name']} ({summary['org']['enterprise_id']})",
        "",
        f"{len(summary['workspaces'])} workspaces, {summary['wall_s']:.1f} s",
        "",
        "| workspace | state | detail |",
        "| --- | --- | --- |",
    ]
    for team, r in summary["workspaces"].items():
        detail = r.get("error") or r.get("flow_run") or ""
        lines.append(f"| {team} | {r['state']} | {detail} |")
    create_markdown_artifact(
        markdown="\n".join(lines),
        key=artifact_key("org", target),
        description="slack-ingest org run: one flow run per workspace",
        _sync=True,
    )  # type: ignore[call-arg]


def _target_fields() -> set[str]:
    import dataclasses

    from ingest.load.target import Target

    return {f.name for f in dataclasses.fields(Target)}
