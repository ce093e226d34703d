"""Plumbing with no domain knowledge: config, extensions, markup, jobs, signals, clock."""
