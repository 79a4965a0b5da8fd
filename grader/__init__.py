"""grade: an autograder for the Deep Learning & NLP Foundations module whose grades cannot be cheated."""

__version__ = "0.2.0"
