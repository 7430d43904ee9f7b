"""Authoring tools above exercises and grading: full validation of a pack and the weak-test linter."""
