"""Sources: paginated APIs behind one interface, and the simulated provider."""
