"""Errors raised by the simulator."""

from __future__ import annotations


class SimulatorConfigError(ValueError):
    """Bad simulator input (unknown size/profile, bad fault spec, port in use).

    The message is one line, fit to print as is; the CLI turns it into exit code 2.
    """
