"""grade: an autograder for deep-learning courses whose grades cannot be cheated."""

__version__ = "0.2.0"
