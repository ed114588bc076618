"""Column aliases and event-type synonyms of SPEC §1."""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REQUIRED_COLUMNS: tuple[str, ...] = ("timestamp", "person_id", "camera_id", "event_type")

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("time", "datetime", "date_time", "event_time", "ts"),
    "person_id": ("person", "track_id", "visitor_id", "object_id"),
    "camera_id": ("camera", "cam", "cam_id", "device_id", "sensor_id"),
    "event_type": ("event", "type", "action", "direction"),
}

ENTRY_WORDS = ("entry", "enter", "entered", "in", "ingress", "arrival", "arrive")
EXIT_WORDS = ("exit", "exited", "out", "egress", "leave", "left", "departure", "depart")

MAX_ID_LENGTH = {"person_id": 100, "camera_id": 50}


class EventKind(IntEnum):
    """Normalized event type; `OTHER` events are stored but never pair."""

    OTHER = 0
    ENTRY = 1
    EXIT = 2

    @property
    def label(self) -> str:
        return self.name.lower()


KIND_LABELS = np.array([k.label for k in EventKind], dtype=object)


def canonical_column(header: str) -> str | None:
    """The required column a header names (case-insensitive, trimmed), or None for an attribute."""
    name = header.strip().lower()
    for canonical, aliases in COLUMN_ALIASES.items():
        if name == canonical or name in aliases:
            return canonical
    return None


def normalize_event_types(values: pa.Array) -> np.ndarray:
    """EventKind codes (int8) for raw event_type strings, case-insensitively; unknown -> OTHER."""
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    is_entry = pc.is_in(lowered, value_set=pa.array(ENTRY_WORDS)).to_numpy(zero_copy_only=False)
    is_exit = pc.is_in(lowered, value_set=pa.array(EXIT_WORDS)).to_numpy(zero_copy_only=False)
    kinds = np.zeros(len(values), dtype=np.int8)
    kinds[is_entry] = EventKind.ENTRY
    kinds[is_exit] = EventKind.EXIT
    return kinds
