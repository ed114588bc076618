"""Pairing of entries and exits into sessions, SPEC §4. (Interface; implementation pending.)"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class SessionStatus(IntEnum):
    COMPLETE = 0
    MISSING_EXIT = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Pairing:
    # one element per session, ordered by (key, entry time)
    entry_index: np.ndarray    # int64: index into the input arrays of the opening entry
    exit_index: np.ndarray     # int64: index of the closing exit, -1 when none
    status: np.ndarray         # int8 SessionStatus
    dwell_ms: np.ndarray       # int64: exit - entry for complete sessions, -1 otherwise
    # one element per input event
    session_of_event: np.ndarray  # int64: index into the session arrays, -1 when none
    orphan_exit: np.ndarray       # bool: an exit that closed nothing (rules 4 and 5)
    duplicate_entry: np.ndarray   # bool: an entry ignored by the duplicate window (rule 3)


def pair_sessions(key: np.ndarray, ts_ms: np.ndarray, kind: np.ndarray, *,
                  duplicate_window_ms: int = 0, max_session_ms: int = 86_400_000) -> Pairing:
    raise NotImplementedError
