"""The application layer: every write the product makes, checked and committed with what it invalidates.

HTTP handlers, the CLI, and replies and the web UI call it with the API's JSON field names;
it validates them (`fields`), decides who may (`auth`), writes in one transaction, and after the
COMMIT tells what depends on the data (caches, schedule actors). It imports the domain and the
store, never `ilertd.web` or `ilertd.actors`: what it needs from above (the incident actors, the
schedule actors) it is given as functions when the daemon builds it.
"""
