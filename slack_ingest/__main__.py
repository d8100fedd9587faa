"""`python -m slack_ingest ...` is `slack-ingest ...`."""

from slack_ingest.cli import main

main()
