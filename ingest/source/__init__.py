"""The dlt source for Slack: resources built on ingest.slack."""

from ingest.source import logfilter
from ingest.source.progress import LoadProgress
from ingest.source.resources import make_source, slack_source
from ingest.source.settings import ConfigError, LoadSettings

logfilter.install()

__all__ = ["ConfigError", "LoadProgress", "LoadSettings", "make_source", "slack_source"]
