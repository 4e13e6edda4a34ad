"""The web console (Settings > Tokens): static files served by `service.console.routes`."""
