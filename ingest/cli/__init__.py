"""The command line of the ingest layer: run, demo, simulate (flow commands are added on top, by slack_ingest.cli)."""
