"""Prefect orchestration for slack-ingest: a thin layer over ingest/ (see docs/FLOWS.md).

`flows.pipeline.slack_pipeline` is the flow; `flows.pipeline.slack_shard` runs one shard of
channel history as its own flow run (the distributed path, picked up by any worker).
Importing this package does not import Prefect.
"""
