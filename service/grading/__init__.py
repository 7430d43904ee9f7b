"""Grading: runs submissions through the sandbox and compares outside it."""
