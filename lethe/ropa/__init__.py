"""The record of processing activities (Art. 30), generated from the policy, with the gaps a DPO must fill.

``build_ropa`` turns the policy's activities and data map into a ``Ropa`` already worded for people;
``render_html``, ``render_markdown`` and ``render_csv`` only lay it out.
"""

from lethe.ropa.record import Ropa, build_ropa
from lethe.ropa.render import render_csv, render_html, render_markdown

__all__ = ["Ropa", "build_ropa", "render_csv", "render_html", "render_markdown"]
