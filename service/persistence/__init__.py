"""Persistence: typed SQLAlchemy 2 models and the database extension."""
