"""Background work: job names, the outbox, the dispatcher, the scheduler, arq worker
settings and the in-process runner. Nothing here imports a domain package: the jobs
themselves live in each package's ``jobs`` module (``portal.composition`` joins them)."""
