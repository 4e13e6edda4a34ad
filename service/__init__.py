"""mrsm-tokens: Meerschaum-style API tokens as a standalone aiohttp + PostgreSQL service."""

# The Python API of the seed (`import service as mrsm`; `from service import Token, User`),
# imported on first use so that starting the server does not load the client side.
_SDK_NAMES = frozenset({"Token", "User", "Pipe", "get_connector", "clear_connectors", "Connector",
                        "InstanceError"})


def __getattr__(name: str):
    if name in _SDK_NAMES:
        from service import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'service' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_SDK_NAMES))
