"""The pieces of the HTML reports: typed contexts (contexts.py), one builder per page kind
(overview, student, tests_page, runs, feedback), the score chart, and text cleaning.

grader/report.py renders and writes them; the templates in grader/templates only lay them out.
"""
