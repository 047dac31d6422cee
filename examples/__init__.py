"""Runnable examples of using bus from existing applications (see README.md)."""
