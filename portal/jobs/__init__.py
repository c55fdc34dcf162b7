"""Background work: the outbox dispatcher, arq worker settings and the in-process runner."""
