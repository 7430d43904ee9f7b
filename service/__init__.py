"""Kiwame: learn tensor operations by doing them, graded in milliseconds."""
