"""Lethe's core: the GDPR obligations a policy file declares, applied to relational databases, with evidence.

Plain typed Python, one package per domain, each importing only the layers below it (the import-linter
contracts in ``pyproject.toml``): ``cli``; then ``demo``, ``dpia``, ``ropa`` and ``validation``; ``consent``
and ``breach``; ``requests``;
``retention``; ``ledger``; ``stores``; ``policy``; ``operators``; and at the bottom the cross-cutting modules
``settings``, ``crypto`` and ``errors``. It never imports Prefect: the flows and tasks beside it wrap it.
"""
