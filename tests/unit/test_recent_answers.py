"""The process's own tier of the analytics cache: most recently used answers within a byte
budget, each for the time it has left in the shared cache."""

from __future__ import annotations

import pytest

from dwell import cache
from dwell.cache import RecentAnswers


def test_the_least_recently_used_answers_go_first_when_the_budget_is_spent() -> None:
    recent = RecentAnswers(max_bytes=10)
    recent.put("a", b"aaaa", 60)
    recent.put("b", b"bbbb", 60)
    assert recent.get("a") == b"aaaa"      # a is now the most recently used
    recent.put("c", b"cccc", 60)               # 12 bytes: b goes
    assert recent.get("b") is None
    assert recent.get("a") == b"aaaa" and recent.get("c") == b"cccc"


def test_an_answer_put_again_counts_once_and_one_larger_than_the_budget_is_not_kept() -> None:
    recent = RecentAnswers(max_bytes=8)
    recent.put("a", b"aaaa", 60)
    recent.put("a", b"AAAA", 60)
    recent.put("b", b"bbbb", 60)               # 8 bytes in all: both fit
    assert recent.get("a") == b"AAAA" and recent.get("b") == b"bbbb"
    recent.put("big", b"x" * 9, 60)
    assert recent.get("big") is None
    assert recent.get("a") == b"AAAA" and recent.get("b") == b"bbbb"


def test_no_budget_keeps_nothing() -> None:
    recent = RecentAnswers(max_bytes=0)
    recent.put("a", b"a", 60)
    assert recent.get("a") is None


def test_an_answer_expires_when_its_time_left_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: now[0])
    recent = RecentAnswers(max_bytes=100)
    recent.put("a", b"aaaa", 60)
    recent.put("short", b"s", 5)           # read from the shared cache with 5 s left
    recent.put("gone", b"g", 0)            # expiring there as it was read: not kept
    assert recent.get("gone") is None
    now[0] += 4.9
    assert recent.get("short") == b"s"
    now[0] += 0.1
    assert recent.get("short") is None
    now[0] += 54.9
    assert recent.get("a") == b"aaaa"
    now[0] += 0.1
    assert recent.get("a") is None
    recent.put("b", b"b" * 100, 60)            # the expired entry no longer counts
    assert recent.get("b") == b"b" * 100
