"""Fast deterministic hashing (splitmix64) used to derive every generated value.

Python's ``hash()`` is salted per process, so it is never used here: the same
(seed, channel, index) must give the same message in every process.
"""

from __future__ import annotations

MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def splitmix64(x: int) -> int:
    """One round of splitmix64: a good 64-bit mixer for sequential inputs."""
    z = (x + _GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def mix(*values: int) -> int:
    """Hash a tuple of non-negative ints into 64 bits."""
    h = 0x51ED270B27E5A2C3
    for v in values:
        h = splitmix64(h ^ (v & MASK64))
    return h


def mix_from(h: int, *values: int) -> int:
    """Continue a `mix` chain: mix_from(mix(a, b), c) == mix(a, b, c)."""
    for v in values:
        h = splitmix64(h ^ (v & MASK64))
    return h


def str_key(s: str) -> int:
    """A deterministic 64-bit int for a string (for seeding from names)."""
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return splitmix64(h)


class Draw:
    """A tiny deterministic stream of random numbers seeded by one 64-bit hash."""

    __slots__ = ("_state",)

    def __init__(self, h: int) -> None:
        self._state = h

    def u64(self) -> int:
        self._state = (self._state + _GOLDEN) & MASK64
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """Uniform int in [0, n)."""
        return self.u64() % n if n > 0 else 0

    def uniform(self) -> float:
        """Uniform float in (0, 1]."""
        return ((self.u64() >> 11) + 1) / 9007199254740992.0

    def chance(self, p: float) -> bool:
        return self.uniform() <= p

    def pick(self, seq):  # type: ignore[no-untyped-def]
        return seq[self.u64() % len(seq)]


def make_id(prefix: str, h: int, length: int = 10) -> str:
    """Slack-looking id: prefix + `length` upper-case alphanumerics derived from h."""
    out = []
    for _ in range(length):
        h, r = divmod(h, 36)
        out.append(ALNUM[r])
        if h == 0:
            h = splitmix64(len(out) + 1)
    return prefix + "".join(out)


def hex_uuid(h: int) -> str:
    """A uuid-shaped string (client_msg_id) from a 64-bit hash."""
    a = h
    b = splitmix64(h)
    s = f"{a:016x}{b:016x}"
    return f"{s[:8]}-{s[8:12]}-4{s[13:16]}-a{s[17:20]}-{s[20:32]}"
