"""Prefect flows, one per file: the pipelines over the core, deployed by ``deployments/prefect.yaml``.

A flow calls tasks in order, publishes artifacts and records its run (the retention flow also pauses for a
person's approval when a change is large); what it does to data is the core's (``lethe``), reached through
``tasks``. ``flows/demo.py`` is ``make demo``'s and is not deployed.
"""
