"""A local Slack workspace (or an Enterprise Grid org of several) served over HTTP: the
substrate of tests, benchmarks and demos.

See docs/DESIGN.md ("Simulator") for the contract. Imports nothing else from this project.
"""

from .errors import SimulatorConfigError
from .faults import FAULT_KINDS, FaultSpec
from .generate import SIZES
from .org import DEFAULT_ORG_TOKEN, ORG_SIZES, Org, OrgTruth
from .ratelimit import METHOD_TIERS, PROFILES, TIER_RATES
from .server import Simulator, SimulatorThread, serve_simulator
from .socket import DEFAULT_APP_TOKEN, SocketMode
from .workspace import DEFAULT_TOKEN, Truth, Workspace

__all__ = [
    "DEFAULT_APP_TOKEN",
    "DEFAULT_ORG_TOKEN",
    "DEFAULT_TOKEN",
    "FAULT_KINDS",
    "METHOD_TIERS",
    "ORG_SIZES",
    "PROFILES",
    "SIZES",
    "TIER_RATES",
    "FaultSpec",
    "Org",
    "OrgTruth",
    "Simulator",
    "SimulatorConfigError",
    "SimulatorThread",
    "SocketMode",
    "Truth",
    "Workspace",
    "serve_simulator",
]
