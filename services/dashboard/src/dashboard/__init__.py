"""The operator dashboard: a tiny FastAPI app serving static HTML, CSS and plain ES modules. It owns no data;
the browser calls the other services' APIs through the single entry point."""
