"""Benchmarks of bus: ``python -m bench`` (what ``make bench`` runs) runs every script here."""
