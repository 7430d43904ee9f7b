"""The Celery grading worker (``kiwame worker``): an entry point, imported by nobody."""
