"""The ``lethe`` command line: one module per command group, a thin layer over the core."""

from lethe.cli.main import main

__all__ = ["main"]
