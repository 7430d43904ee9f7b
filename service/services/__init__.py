"""Plain-data services that own the transactions."""
