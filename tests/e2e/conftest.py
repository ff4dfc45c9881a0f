"""Fixtures of the end-to-end suites."""

from tests.e2e.guichet_stack import sqlite_stack  # noqa: F401 - a session fixture shared by several modules
