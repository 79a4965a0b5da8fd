"""`grade similarity`: pairs of students whose own code for an assignment is alike.

sources (read each submission's code cells, never run) -> normalize (tokens, chosen names
as V) -> compare (copydetect's winnowed fingerprints, the scaffold removed, a score per pair)
-> run (the class and its archives, JSON) -> page (the HTML with matches side by side).
A flag for a human to read the code, never a penalty.
"""
