"""File-level errors: the whole upload is refused and nothing is stored (SPEC §3)."""

from __future__ import annotations


class UploadRejected(Exception):
    """The whole file is unusable; nothing was stored. `message` is shown to the user as is."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}
