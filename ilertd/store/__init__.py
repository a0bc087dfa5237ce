"""Persistence: peewee models, opening by URL, migrations and the group-commit writer."""
