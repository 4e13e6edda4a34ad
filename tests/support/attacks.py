"""Attack tests' settings: a JWT key the tests know (to forge tokens with), no throttling."""

from __future__ import annotations

import dataclasses

JWT_KEY = "attack-tests-signing-key-" + "k" * 48  # 64+ bytes: long enough for HS512 too


def without_throttling(settings):
    """The settings with failed-login throttling off, where the service has it: attack tests
    make many failures on purpose and check each answer, not the throttle's."""
    abuse = getattr(settings, "abuse", None)
    if abuse is None or not hasattr(abuse, "throttle_enabled"):
        return settings
    return dataclasses.replace(settings, abuse=dataclasses.replace(abuse, throttle_enabled=False))
