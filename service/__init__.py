"""mrsm-tokens: Meerschaum-style API tokens as a standalone aiohttp + PostgreSQL service."""
