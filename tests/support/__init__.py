"""Helpers shared by the test suite: document and model generators, the network guard."""
