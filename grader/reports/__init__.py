"""The pieces of the HTML reports: typed contexts (contexts.py), one builder per page kind
(overview, student, tests_page, runs, feedback), the score chart, and text cleaning.

grader/reports/write.py renders and writes them; the templates in grader/reports/templates only lay them out.
"""
