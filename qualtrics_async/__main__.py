"""``python -m qualtrics_async``: the ``qualtrics-async`` command line (see :mod:`qualtrics_async.cli`)."""

from __future__ import annotations

import sys

from qualtrics_async.cli import main

if __name__ == "__main__":
    sys.exit(main())
