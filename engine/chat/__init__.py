"""Answers grounded in retrieved passages, their citations, and saved conversations."""
