"""The top layer: the `slack-ingest` command, composed from ingest's commands and flows'.

Nothing below imports this package; it is the only place that knows both `ingest` and `flows`.
"""
