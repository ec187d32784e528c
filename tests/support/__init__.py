"""Helpers the tests import: servers they start and stop themselves, by PID."""
