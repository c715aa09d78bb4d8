"""Tests of the query domain and its store."""
