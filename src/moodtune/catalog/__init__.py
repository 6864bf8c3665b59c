"""Persistence: SQLAlchemy models, queries (``repo``), importers, migrations and the in-memory
ranking index (``index.CatalogIndex``). Only this package talks SQL."""
