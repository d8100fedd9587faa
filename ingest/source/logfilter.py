"""Silence one expected dlt warning: our JSON column hints deliberately override the Arrow
string type of nested fields ("several column hints were different")."""

from __future__ import annotations

import logging


class _ArrowHintFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "when merging arrow schema with dlt schema" not in record.getMessage()


def install() -> None:
    logger = logging.getLogger("dlt")
    if not any(isinstance(f, _ArrowHintFilter) for f in logger.filters):
        logger.addFilter(_ArrowHintFilter())
