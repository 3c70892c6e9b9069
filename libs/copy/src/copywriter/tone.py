"""Tones of voice the copy generator can write in."""

from __future__ import annotations

from enum import StrEnum


class Tone(StrEnum):
    FRIENDLY = "friendly"
    DIRECT = "direct"
    CONSULTATIVE = "consultative"


DEFAULT_TONE = Tone.CONSULTATIVE
