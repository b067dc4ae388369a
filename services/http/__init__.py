"""The HTTP API: the FastAPI app, its routers, problems, limits and the models of its answers."""
