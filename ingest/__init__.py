"""slack-ingest: a concurrent Slack ingestion engine on dlt and Prefect."""

import os

# Arrow's default allocator (mimalloc) keeps the pages it frees for Arrow alone, which
# costs a load ~25 MB of resident memory for nothing (benchmarks/README.md, "memory").
# The choice is read once, when pyarrow is first imported: set it before that happens;
# an explicit ARROW_DEFAULT_MEMORY_POOL wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
