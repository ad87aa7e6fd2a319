"""Duties of a processor (GDPR Art. 28): the end of a contract with one controller.

At the end of the provision of services the processor returns all the controller's personal data and then
deletes it (Art. 28(3)(g)): ``lethe.processor.contract`` plans it (counts per table), exports every row of the
controller's tables into an encrypted zip (the export machinery of ``lethe.requests.export``), deletes them in
journalled, ledgered batches (the retention machinery) and writes a deletion certificate to the ledger and a
file. Per-controller retention periods live in ``lethe.retention.controllers``; the Art. 30(2) record in
``lethe.ropa``.
"""
