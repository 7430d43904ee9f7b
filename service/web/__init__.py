"""Browser pages for learners and instructors."""
