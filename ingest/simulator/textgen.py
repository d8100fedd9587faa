"""Message text: O(1) slices of a fixed pseudo-English corpus (fast, deterministic)."""

from __future__ import annotations

import random

_WORDS = (
    "the deploy build release ticket customer incident review merge branch staging "
    "prod metrics dashboard alert latency query index cache queue worker retry budget "
    "design doc meeting standup sprint backlog roadmap launch feedback bug fix patch "
    "test flaky green red pipeline ingest warehouse table schema column partition "
    "cluster node pod container image registry token scope channel thread reply "
    "emoji reaction file upload link preview bot app webhook event payload json "
    "we should could would maybe today tomorrow yesterday later soon done blocked "
    "please thanks ok sure great nice lgtm ship it looks good to me can you check "
    "a an and or but if then when why how what who where is are was were be been "
    "on in at for with about from into over after before during under between "
    "numbers 42 7 100 3.14 2x 10k v2 beta alpha rc1 eu us apac sla p99 p50 qps"
).split()

_rng = random.Random(20240601)
CORPUS = " ".join(_rng.choice(_WORDS) for _ in range(60000)) + " "
_CLEN = len(CORPUS)
_EMOJI = (
    ("thumbsup", "1f44d"),
    ("tada", "1f389"),
    ("eyes", "1f440"),
    ("white_check_mark", "2705"),
    ("fire", "1f525"),
    ("rocket", "1f680"),
    ("pray", "1f64f"),
    ("joy", "1f602"),
)
EMOJI_NAMES = tuple(e[0] for e in _EMOJI)
EMOJI = _EMOJI

#: How a question starts; `question` picks one (the analytics models count a top-level
#: message with a "?" as a question).
_OPENERS = (
    "does anyone know",
    "how do we",
    "why is",
    "can someone check",
    "what is",
    "where is",
    "who owns",
    "is it ok if",
)
#: Out of 16: the share of generated user messages that are questions (4/16 = 25%).
QUESTION_SIXTEENTHS = 4


def text_length(u: float) -> int:
    """Skewed (Pareto-like) text length in characters: median ~50, a tail of long texts."""
    return min(3800, int(28 * u**-0.8))


def text_slice(h: int, length: int) -> str:
    """`length` characters of corpus starting at a word boundary chosen by h."""
    length = max(1, length)
    start = h % (_CLEN - length - 20)
    s = CORPUS.find(" ", start) + 1
    out = CORPUS[s : s + length]
    cut = out.rfind(" ")
    if cut > length // 2:
        out = out[:cut]
    return out.rstrip() or "ok"


def is_question_draw(bits4: int) -> bool:
    """Whether a message whose 4 free random bits are `bits4` (0..15) is a question (25%)."""
    return bits4 < QUESTION_SIXTEENTHS


def question(text: str, h: int) -> str:
    """`text` asked as a question: an opener chosen by h, the text, and a final "?"."""
    return f"{_OPENERS[h % len(_OPENERS)]} {text.rstrip(' .!?')}?"
