"""The Python API of the seed: `Token`, `User`, `Pipe`, `get_connector` (also on `service`).

    import service as mrsm
    from service import Token, User

    user = User('myuser', instance='sql:main')
    token = Token(label='my-iot-device', user=user, instance='sql:main')
    success, msg = token.register()

Synchronous, safe from a plain script. The async variant is the connectors'
`a*` coroutines (`await conn.alist_tokens()`), which use the HTTP API's JSON shapes.
"""

from service.sdk import api, sql  # noqa: F401 - each registers its type for get_connector
from service.sdk.base import InstanceError
from service.sdk.config import clear_connectors, get_connector
from service.sdk.connector import Connector
from service.sdk.pipe import Pipe
from service.sdk.token import Token
from service.sdk.user import User

__all__ = ["Connector", "InstanceError", "Pipe", "Token", "User", "clear_connectors",
           "get_connector"]
