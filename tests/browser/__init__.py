"""Dashboard tests in a real browser. A package, so its conftest does not shadow
tests/conftest.py for `from conftest import ...`."""
