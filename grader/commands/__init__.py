"""One module per `grade` sub-command; grader.cli imports them all."""
