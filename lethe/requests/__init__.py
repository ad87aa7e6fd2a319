"""Data-subject requests: access and portability exports, erasure, rectification, restriction and objection.

A request finds its subject through the subject graph (``lethe.requests.subjects``: every row that belongs to
one person, across tables and stores), is registered with its one-month deadline (``lethe.requests.register``,
``lethe.requests.tracking``; a later attempt may name it by its reference alone, ``lethe.requests.reference``),
and keeps its evidence like a retention batch (``lethe.requests.evidence``).
Restrictions and objections are kept in a register in the subject's store (``lethe.requests.restriction``);
``not_restricted`` is the condition a processing query adds to leave those subjects out.
"""

from lethe.requests.erasure.erase import erase_subject
from lethe.requests.export.archive import export_subject
from lethe.requests.rectification import lift_restriction, rectify_subject, restrict_subject
from lethe.requests.register import list_requests
from lethe.requests.restriction import not_restricted

__all__ = [
    "erase_subject",
    "export_subject",
    "lift_restriction",
    "list_requests",
    "not_restricted",
    "rectify_subject",
    "restrict_subject",
]
