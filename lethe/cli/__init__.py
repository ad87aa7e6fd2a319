"""The ``lethe`` command line: one module per command group, a thin layer over the core.

Each command reads its options, calls the core and prints the outcome; ``lethe.cli.common.handle_errors``
turns an error of the core into one line and its documented exit code, never a traceback.
"""

from lethe.cli.main import main

__all__ = ["main"]
