"""Shared test configuration. The ``bus`` pytest plugin (bus.testing) provides the emulator fixtures."""
