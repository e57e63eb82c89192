"""The ``qualtrics-async`` command line: exports with progress bars, contact imports, the emulator, the demo.

Progress bars and tables need the ``cli`` extra (``pip install 'qualtrics-async[cli]'``,
which adds rich); without it, or when stdout is not a terminal, the commands print plain
lines, so they pipe cleanly. Run ``qualtrics-async --help`` for the commands.
"""

from qualtrics_async.cli._main import main

__all__ = ["main"]
