"""``lethe ropa``: write the record of processing activities (Art. 30) as HTML, Markdown or CSV."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

import click

from lethe.cli.common import handle_errors
from lethe.policy.loading import load_policy
from lethe.ropa.record import Ropa, build_ropa
from lethe.ropa.render import render_csv, render_html, render_markdown

RENDERERS: dict[str, Callable[[Ropa], str]] = {"html": render_html, "md": render_markdown, "csv": render_csv}
EXTENSIONS = {".html": "html", ".htm": "html", ".md": "md", ".csv": "csv"}


def infer_format(out: Path, given: str | None) -> str:
    """The format named by ``--format``, else by the extension of ``out``; a usage error when neither does."""
    if given:
        return given
    fmt = EXTENSIONS.get(out.suffix.lower())
    if fmt is None:
        raise click.BadParameter(
            f"cannot tell the format from {out.suffix or 'no extension'!r}: "
            "end the file name in .html, .htm, .md or .csv, or pass --format html|md|csv",
            param_hint="'--out'",
        )
    return fmt


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so a reader sees the old file or the whole new one, never a part."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # os.open with 0o666 lets the umask decide the mode, as for any file the user creates.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise click.FileError(str(path), hint=exc.strerror or str(exc)) from None


@click.command(short_help="Write the record of processing activities (Art. 30)")
@click.argument("policy_path", metavar="POLICY", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (.html, .htm, .md or .csv).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(RENDERERS)),
    help="Output format; default from the extension of --out.",
)
@handle_errors
def ropa(policy_path: Path, out: Path, fmt: str | None) -> None:
    """Write the record of processing activities (GDPR Art. 30(1)) of POLICY to --out.

    One record per activity of the policy, with the controller, purposes, lawful basis, subjects,
    categories, recipients, transfers, time limits, security measures and where the data is held (from the
    data map). Fields the policy leaves empty read "none declared"; gaps for the DPO to fill are listed at
    the end. No database is contacted.
    """
    fmt = infer_format(out, fmt)
    record = build_ropa(load_policy(policy_path))
    write_atomically(out, RENDERERS[fmt](record))
    click.echo(f"wrote {out} ({fmt}): {len(record.records)} processing activit(y/ies)")
    click.echo(
        f"{len(record.gaps)} gap(s) to fill" + (" (listed at the end of the file)" if record.gaps else "")
    )
