"""SQLite persistence: what the lifecycle decides, committed before it is acknowledged."""

from qsession.store.sqlite import CorruptResult, MissingLog, Store

__all__ = ["CorruptResult", "MissingLog", "Store"]
