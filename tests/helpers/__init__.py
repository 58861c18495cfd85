"""Helpers shared by the tests: conformance checkpoints, the `aib` process, the server process."""
