"""The access and portability export (Art. 15 and 20): one subject's rows in one zip, optionally encrypted.

``export_subject`` writes ``data.json`` with its JSON Schema, a CSV per table, a self-contained ``index.html``
with the Art. 15(1) facts, and a manifest with checksums; ``lethe.requests.export.crypto`` encrypts it as it
is written, so its plaintext never touches the disk.
"""

from lethe.requests.export.archive import ExportResult, export_subject
from lethe.requests.export.plan import plan_export

__all__ = ["ExportResult", "export_subject", "plan_export"]
