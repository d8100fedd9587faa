"""The load: building and running dlt pipelines over the source, destinations, preflight, state across pipelines."""
