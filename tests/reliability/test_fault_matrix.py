"""Fault matrix: every fault kind the simulator injects, at a rate that hits every run, then
all of them at once. The load must complete with the destination equal to `truth()`, and
the simulator's own counters must show the faults were really served (and the client's
that it really retried them).

Faults are drawn from a seeded RNG per request, so "hits every run" is deterministic: with
~400 requests per `small` load the first draws alone contain every kind listed below.
"""

from __future__ import annotations

import json

import pytest

from ingest.simulator import SimulatorThread, Workspace
from tests.integration.helpers import load
from tests.reliability.support import assert_exact

SLOW_S = 0.3
# name -> (fault spec, time_scale). Storms last storm_s *Slack* seconds (30 by default),
# so the storm cases run the simulator and the client at time_scale 60 (0.5 real seconds).
CASES = {
    "5xx": ("http500=0.025,http502=0.025,http503=0.025,http504=0.025", 1.0),
    "reset": ("reset=0.08", 1.0),
    "slow": (f"slow=0.05,slow_s={SLOW_S}", 1.0),
    "badjson": ("badjson=0.08", 1.0),
    "ok_false": (
        "internal_error=0.02,fatal_error=0.02,service_unavailable=0.02,request_timeout=0.02",
        1.0,
    ),
    "storm": ("storm=0.02", 60.0),
    "all": (
        "http500=0.02,http502=0.02,http503=0.02,http504=0.02,reset=0.03,"
        f"slow=0.02,slow_s={SLOW_S},badjson=0.03,internal_error=0.01,fatal_error=0.01,"
        "service_unavailable=0.01,request_timeout=0.01,storm=0.01",
        60.0,
    ),
}
RETRIED = {
    "http500",
    "http502",
    "http503",
    "http504",
    "reset",
    "badjson",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}


def _kinds(spec: str) -> set[str]:
    return {item.split("=")[0] for item in spec.split(",")} - {"slow_s", "storm_s", "seed"}


@pytest.fixture(scope="module")
def small_ws_truth():
    return Workspace.generate(size="small", seed=21).truth()


@pytest.mark.parametrize("case", list(CASES))
def test_load_is_exact_under_faults(case, target, small_ws_truth, record_property):
    spec, time_scale = CASES[case]
    ws = Workspace.generate(size="small", seed=21)
    with SimulatorThread(
        ws, profile="unlimited", time_scale=time_scale, faults=f"{spec},seed=5"
    ) as sim:
        result = load(sim, target, time_scale=time_scale)
        stats = sim.stats()
    assert_exact(target, small_ws_truth)

    served = stats["faults"]
    kinds = _kinds(spec)
    missing = {k for k in kinds if not served.get(k)}
    assert not missing, f"fault kinds never served: {missing} ({served})"

    client = {
        k: sum(row.get(k, 0) for row in result.requests.values())
        for k in ("requests", "retries", "errors", "n_429", "wait_network_s")
    }
    injected_errors = sum(n for k, n in served.items() if k in RETRIED)
    # every injected failure cost the client one failed attempt and one retry
    assert client["errors"] >= injected_errors
    assert client["retries"] >= injected_errors + stats["totals"]["n_429"]
    if "storm" in kinds:
        assert stats["totals"]["n_429"] > served["storm"], "a storm answers 429 for a while"
        assert client["n_429"] == stats["totals"]["n_429"]
    if "slow" in kinds:
        # each slow response held the client for slow_s (a lower bound, not a timing race)
        assert client["wait_network_s"] >= 0.9 * SLOW_S * served["slow"]
    # the client saw exactly what the server served
    assert client["requests"] == stats["totals"]["requests"]
    record_property(
        "faults", json.dumps({"case": case, "spec": spec, "served": served, "client": client})
    )
    print(
        f"faults {case}: served {served}, requests {stats['totals']['requests']}, "
        f"429s {stats['totals']['n_429']}, client retries {client['retries']}"
    )
