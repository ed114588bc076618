"""Camera events derived from real pedestrian tracks (ETH and UCY, see REALDATA_DIR/README.md).

Each dataset is one camera; a pedestrian's first annotated frame is an `entry`, the last one an
`exit`, at BASE_INSTANT + frame / fps, rounded to the millisecond (half up). `expected_dwell_s`
computes the ground truth straight from the raw lines, separately from the CSV conversion, so a
test can compare what the engine derives from the CSV with what the annotations say.

Tests that use this module must skip when `REALDATA_DIR` is absent (see `require_realdata`).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np


def _find_realdata() -> Path:
    """`DWELL_REALDATA_DIR`, else a `shared/realdata` folder beside an ancestor of this file
    (the workspace keeps it next to the repository), else the workspace's usual place."""
    configured = os.environ.get("DWELL_REALDATA_DIR")
    if configured:
        return Path(configured)
    for ancestor in Path(__file__).resolve().parents:
        candidate = ancestor / "shared" / "realdata"
        if candidate.is_dir():
            return candidate
    return Path("/work/shared/realdata")


REALDATA_DIR = _find_realdata()

BASE_INSTANT = datetime(2009, 6, 1, 12, 0, 0, tzinfo=timezone.utc)

# camera id -> (folder under REALDATA_DIR, video frames per second)
DATASETS: dict[str, tuple[str, int]] = {
    "eth": ("eth_seq_eth", 15),
    "hotel": ("eth_seq_hotel", 25),
    "zara01": ("ucy_zara01", 25),
}

HEADER = "timestamp,person_id,camera_id,event_type"


def require_realdata() -> Path:
    """REALDATA_DIR, or skip the calling test when it is not there."""
    import pytest

    if not all((REALDATA_DIR / folder / "obsmat.txt").is_file() for folder, _ in DATASETS.values()):
        pytest.skip(f"real pedestrian data not found under {REALDATA_DIR}")
    return REALDATA_DIR


def obsmat_path(dataset: str) -> Path:
    return REALDATA_DIR / DATASETS[dataset][0] / "obsmat.txt"


def frame_offset_ms(frame: int, fps: int) -> int:
    """Milliseconds from BASE_INSTANT to `frame`, rounded half up."""
    return (2 * 1000 * frame + fps) // (2 * fps)


def iso_ms(offset_ms: int) -> str:
    instant = BASE_INSTANT + timedelta(milliseconds=offset_ms)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def realdata_events_csv(datasets: tuple[str, ...] = ("eth", "hotel", "zara01")) -> str:
    """CSV text (header + one entry and one exit per pedestrian), sorted by timestamp."""
    rows: list[tuple[int, int, int, int, str]] = []
    for order, dataset in enumerate(datasets):
        _, fps = DATASETS[dataset]
        table = np.loadtxt(obsmat_path(dataset), ndmin=2)
        frames = np.rint(table[:, 0]).astype(np.int64)
        pids = np.rint(table[:, 1]).astype(np.int64)
        ids, inverse = np.unique(pids, return_inverse=True)
        first = np.full(len(ids), np.iinfo(np.int64).max)
        last = np.full(len(ids), np.iinfo(np.int64).min)
        np.minimum.at(first, inverse, frames)
        np.maximum.at(last, inverse, frames)
        for pid, f0, f1 in zip(ids.tolist(), first.tolist(), last.tolist()):
            rows.append((frame_offset_ms(f0, fps), order, pid, 0, dataset))
            rows.append((frame_offset_ms(f1, fps), order, pid, 1, dataset))
    rows.sort()  # time, then dataset, pedestrian, entry before exit
    lines = [HEADER]
    for offset, _, pid, kind, dataset in rows:
        lines.append(f"{iso_ms(offset)},{dataset}-{pid},{dataset},{('entry', 'exit')[kind]}")
    return "\n".join(lines) + "\n"


def expected_dwell_s(datasets: tuple[str, ...] = ("eth", "hotel", "zara01")
                     ) -> dict[tuple[str, str], float]:
    """{(person_id, camera_id): (last frame - first frame) / fps} at millisecond precision."""
    out: dict[tuple[str, str], float] = {}
    for dataset in datasets:
        _, fps = DATASETS[dataset]
        span: dict[int, list[int]] = {}
        with open(obsmat_path(dataset), encoding="ascii") as fh:
            for line in fh:
                fields = line.split()
                if not fields:
                    continue
                frame, pid = round(float(fields[0])), round(float(fields[1]))
                seen = span.setdefault(pid, [frame, frame])
                seen[0] = min(seen[0], frame)
                seen[1] = max(seen[1], frame)
        for pid, (f0, f1) in span.items():
            dwell_ms = frame_offset_ms(f1, fps) - frame_offset_ms(f0, fps)
            out[(f"{dataset}-{pid}", dataset)] = dwell_ms / 1000
    return out
