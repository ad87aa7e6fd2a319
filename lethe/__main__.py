"""``python -m lethe`` runs the command line."""

from lethe.cli.main import main

main()
