"""HTTP API on starlette: thin handlers that parse, authorise and hand work to actors."""
