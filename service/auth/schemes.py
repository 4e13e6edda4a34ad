"""The Authorization header's accepted forms: `split_authorization`.

``Authorization: Bearer <jwt>``, the raw API key ``Authorization: mrsm-key:...`` (as the
seed's curl example sends it) and ``Authorization: Bearer mrsm-key:...``. The prefix and
the scheme name are matched case-insensitively.
"""

from __future__ import annotations

from service.auth.apikeys import API_KEY_PREFIX


def split_authorization(header: str) -> tuple[str, str] | None:
    """("api_key" | "jwt", credential), or None for a scheme we do not accept."""
    header = header.strip()
    if header[: len(API_KEY_PREFIX)].lower() == API_KEY_PREFIX:
        return "api_key", API_KEY_PREFIX + header[len(API_KEY_PREFIX):]
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return None
    if value[: len(API_KEY_PREFIX)].lower() == API_KEY_PREFIX:
        return "api_key", API_KEY_PREFIX + value[len(API_KEY_PREFIX):]
    return "jwt", value
