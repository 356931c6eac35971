"""Random sketch operators (in progress)."""
