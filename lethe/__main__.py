"""``python -m lethe`` runs the command line."""

from lethe.cli import main

main()
