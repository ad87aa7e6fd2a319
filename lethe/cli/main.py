"""The ``lethe`` command line: a thin layer over the core; every command has ``--help``.

Exit codes: 0 success; 1 unexpected error; 2 invalid policy, parameter or schema mismatch; 3 a store or the
ledger unreachable; 4 ledger tampered; 5 a post-change verification failed; 6 another run holds the lock;
130 interrupted. Errors print one line per problem to stderr, never a traceback (``LETHE_DEBUG=1`` shows it).
"""

from __future__ import annotations

import click

from lethe.cli.breach import breach
from lethe.cli.consent import consent
from lethe.cli.demo import demo
from lethe.cli.dpia import dpia
from lethe.cli.export import export
from lethe.cli.ledger import ledger
from lethe.cli.processor import processor
from lethe.cli.replay import replay_command
from lethe.cli.requests import erase, rectify, requests, restrict, unrestrict
from lethe.cli.retention import retention
from lethe.cli.ropa import ropa
from lethe.cli.validate import validate


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="lethe")
def main() -> None:
    """Lethe: GDPR retention, data-subject requests and evidence, driven by a YAML policy."""


main.add_command(validate)
main.add_command(ledger)
main.add_command(demo)
main.add_command(retention)
main.add_command(erase)
main.add_command(rectify)
main.add_command(restrict)
main.add_command(unrestrict)
main.add_command(requests)
main.add_command(export)
main.add_command(ropa)
main.add_command(dpia)
main.add_command(consent)
main.add_command(breach)
main.add_command(replay_command, name="replay")
main.add_command(processor)
