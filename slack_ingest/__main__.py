"""`python -m slack_ingest ...` is `slack-ingest ...`."""

import sys

from slack_ingest.cli import main

sys.exit(main())
