"""Persistence: peewee models, every read as a named function, caches, migrations and the group-commit writer.

One way to read: every read of the store is a named function of a module of this package, such
as `people.user(user_id)`, `sources.sources_page(start, size)` or
`incidents.incidents_page(filters, start, size)`. Actors, the application layer, HTTP handlers,
the CLI and plugins call these functions and never build a query themselves: no
`Model.select`, `get_or_none`, `get_by_id`, `execute_sql` or `raw` outside `ilertd/store/`
(tests/test_layers.py fails on one).

Why one way: a query built where it is needed ties every caller to the schema and to peewee, and
the same lookup written in several places drifts apart (an order here, a filter there). A named
function is written, tested and changed in one place (an index or a faster form reaches every
caller at once), and its caller reads as what it needs rather than how it is fetched. It returns
model rows or plain values, as the query did. Writes are not reads and stay where they are: in
the application layer's transactions and in the group-commit writer (`committer`, `statements`).

Inside the store, a function builds its query with peewee's query builder (the default: plain to
read, the same on SQLite and PostgreSQL), or with `Reader` (`reader.py`: SQL written once, rows
converted by the models' fields, on SQLite the whole result as one JSON value) where a measured
hot path needs it. Paging is that path: people (`people.load_people`), incidents
(`incidents.load_incident`, `load_incidents`) and outbox rows (`outbox.notification_rows`,
`co_due_pages`, `page_facts`). An escalation storm reads a dozen rows per page, and building a
SELECT through peewee costs several times what SQLite takes to run it.
"""
