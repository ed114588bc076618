"""Analytics: one function per question, computed in SQL over the store (SPEC §5-§10)."""
