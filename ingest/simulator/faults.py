"""Fault injection: spec parsing and seeded per-request decisions.

Spec grammar (comma separated, whitespace ignored)::

    kind=probability ...  with kind in FAULT_KINDS, probability in [0, 1], sum <= 1
    seed=N  slow_s=X  storm_s=X     options

e.g. ``"http503=0.05,reset=0.02,slow=0.01,slow_s=0.5,seed=7"``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from .errors import SimulatorConfigError

HTTP_FAULTS = {"http500": 500, "http502": 502, "http503": 503, "http504": 504}
OK_FALSE_FAULTS = ("internal_error", "fatal_error", "service_unavailable", "request_timeout")
FAULT_KINDS = (*HTTP_FAULTS, "reset", "slow", "badjson", *OK_FALSE_FAULTS, "storm")
OPTIONS = ("seed", "slow_s", "storm_s")


@dataclass(frozen=True)
class FaultSpec:
    """Parsed fault spec; `probs` keeps the order given (it fixes the seeded outcomes)."""

    probs: tuple[tuple[str, float], ...] = ()
    seed: int = 0
    slow_s: float = 2.0
    storm_s: float = 30.0  # Slack-seconds; divided by time_scale

    @classmethod
    def parse(cls, spec: str | FaultSpec | None) -> FaultSpec:
        """Parse a spec string; SimulatorConfigError (a ValueError) with a one-line message."""
        if spec is None:
            return cls()
        if isinstance(spec, FaultSpec):
            return spec
        if not isinstance(spec, str):
            raise SimulatorConfigError(f"fault spec must be a string, not {type(spec).__name__}")
        probs: dict[str, float] = {}
        opts: dict[str, float] = {}
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            name, sep, value = item.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or not value:
                raise SimulatorConfigError(
                    f"bad fault spec item {item!r}: expected kind=probability"
                )
            if name in OPTIONS:
                opts[name] = _number(name, value, integer=name == "seed")
                continue
            if name not in FAULT_KINDS:
                raise SimulatorConfigError(
                    f"unknown fault kind {name!r}; expected one of {', '.join(FAULT_KINDS + OPTIONS)}"
                )
            if name in probs:
                raise SimulatorConfigError(f"fault kind {name!r} given twice")
            p = _number(name, value)
            if not 0.0 <= p <= 1.0:
                raise SimulatorConfigError(f"fault probability {name}={value} is not in [0, 1]")
            probs[name] = p
        total = sum(probs.values())
        if total > 1.0 + 1e-9:
            raise SimulatorConfigError(f"fault probabilities sum to {total:g} > 1")
        for k in ("slow_s", "storm_s"):
            if k in opts and opts[k] < 0:
                raise SimulatorConfigError(f"fault option {k} must be >= 0")
        return cls(
            probs=tuple(probs.items()),
            seed=int(opts.get("seed", 0)),
            slow_s=float(opts.get("slow_s", 2.0)),
            storm_s=float(opts.get("storm_s", 30.0)),
        )

    @property
    def enabled(self) -> bool:
        return any(p > 0 for _, p in self.probs)

    def __str__(self) -> str:
        parts = [f"{k}={p:g}" for k, p in self.probs]
        parts += [f"seed={self.seed}", f"slow_s={self.slow_s:g}", f"storm_s={self.storm_s:g}"]
        return ",".join(parts)


def _number(name: str, value: str, integer: bool = False) -> float:
    try:
        return float(int(value)) if integer else float(value)
    except ValueError:
        raise SimulatorConfigError(
            f"bad value for fault {name}: {value!r} is not a number"
        ) from None


class FaultInjector:
    """Draws one fault (or none) per request from a seeded RNG; tracks 429 storms per method."""

    def __init__(self, spec: FaultSpec, time_scale: float) -> None:
        self.spec = spec
        self.time_scale = time_scale
        self._rng = random.Random(spec.seed)
        self._storm_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def inherit_storms(self, other: FaultInjector) -> None:
        with other._lock:
            self._storm_until.update(other._storm_until)

    def draw(self) -> str | None:
        if not self.spec.probs:
            return None
        with self._lock:
            u = self._rng.random()
        acc = 0.0
        for kind, p in self.spec.probs:
            acc += p
            if u < acc:
                return kind
        return None

    def storm_remaining(self, method: str, now: float) -> float:
        """Real seconds left in this method's 429 storm (0 if none)."""
        until = self._storm_until.get(method)
        return max(0.0, until - now) if until else 0.0

    def start_storm(self, method: str, now: float) -> float:
        """Start a storm; returns its length in real seconds."""
        length = self.spec.storm_s / self.time_scale
        with self._lock:
            self._storm_until[method] = now + length
        return length
