"""The API's routes, one module per area; `services.http.api.create_api` adds them in order.

Each module's `add_routes(router, ctx)` declares its routes on the app's own
`APIRouter` (`api.router`), with what they need passed in (`context.ApiContext`: the
application, the read pool, the disclosure record, read-your-writes). The routes are
declared there rather than on an `APIRouter` of their own that the app includes:
FastAPI 0.16x keeps an included router nested (one `_IncludedRouter` in
`api.routes`), and the 405 handler's `Allow`, the access matrix's test and the
telemetry's route templates look for the routes themselves among `api.routes`.
"""
