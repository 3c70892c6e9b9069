"""The HTTP shell of a service API: the FastAPI app (http), API keys (auth), the rate limit, `/health/*`
(health) and `/metrics` (metrics)."""
