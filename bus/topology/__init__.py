"""Topology as data: model, load (with file:line errors), check, plan, apply, graph."""
