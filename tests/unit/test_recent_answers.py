"""The process's own tier of the analytics cache: most recently used answers within a byte
budget, each for the cache's time to live."""

from __future__ import annotations

import pytest

from dwell import cache
from dwell.cache import RecentAnswers


def test_the_least_recently_used_answers_go_first_when_the_budget_is_spent() -> None:
    recent = RecentAnswers(max_bytes=10, ttl_s=60)
    recent.put("a", b"aaaa")
    recent.put("b", b"bbbb")
    assert recent.get("a") == b"aaaa"      # a is now the most recently used
    recent.put("c", b"cccc")               # 12 bytes: b goes
    assert recent.get("b") is None
    assert recent.get("a") == b"aaaa" and recent.get("c") == b"cccc"


def test_an_answer_put_again_counts_once_and_one_larger_than_the_budget_is_not_kept() -> None:
    recent = RecentAnswers(max_bytes=8, ttl_s=60)
    recent.put("a", b"aaaa")
    recent.put("a", b"AAAA")
    recent.put("b", b"bbbb")               # 8 bytes in all: both fit
    assert recent.get("a") == b"AAAA" and recent.get("b") == b"bbbb"
    recent.put("big", b"x" * 9)
    assert recent.get("big") is None
    assert recent.get("a") == b"AAAA" and recent.get("b") == b"bbbb"


def test_no_budget_keeps_nothing() -> None:
    recent = RecentAnswers(max_bytes=0, ttl_s=60)
    recent.put("a", b"a")
    assert recent.get("a") is None


def test_an_answer_expires_after_the_time_to_live(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: now[0])
    recent = RecentAnswers(max_bytes=100, ttl_s=60)
    recent.put("a", b"aaaa")
    now[0] += 59.9
    assert recent.get("a") == b"aaaa"
    now[0] += 0.1
    assert recent.get("a") is None
    recent.put("b", b"b" * 100)            # the expired entry no longer counts
    assert recent.get("b") == b"b" * 100
