"""`grade audit`: mutation testing of an assignment's hidden tests.

syntax.py + operators.py (the mistakes, as AST edits) -> generate.py (mutants of the reference's
solution regions) -> equivalence.py + probe.py (drop mutants whose values match the
reference's, measured in the sandbox) -> run.py (grade the rest through the real
pipeline, score the suite) -> record.py (the JSON record `grade validate` reads).
"""
