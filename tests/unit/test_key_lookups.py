"""Which way an upload finds its touched keys' stored rows: by probes or by one scan."""

from __future__ import annotations

from dwell.store.touched import BY_PROBES, BY_SCAN, PROBE_BELOW_SHARE, choose_lookups


def test_an_upload_touching_few_keys_of_a_large_store_probes_them_else_scans() -> None:
    assert choose_lookups(50_000, 1_160_000) is BY_PROBES       # a day into a larger store
    assert choose_lookups(700_000, 4_300_000) is BY_SCAN        # a week of returning persons
    assert choose_lookups(10, 0) is BY_SCAN                     # nothing analyzed yet
    share = int(PROBE_BELOW_SHARE * 1_000_000)
    assert choose_lookups(share - 1, 1_000_000) is BY_PROBES
    assert choose_lookups(share, 1_000_000) is BY_SCAN
