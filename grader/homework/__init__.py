"""The homework: score each student's fine-tuned text classifier on a held-out set.

data.py      the labelled texts the rubric names: a training set (released) and a held-out set (never)
validate.py  what a model folder must be before anything loads it (trusted process, JSON and headers only)
infer.py     the small trusted script that runs inside the sandbox: texts in, logits out
score.py     inference in the sandbox, metrics through `evaluate` in the trusted process
metrics/     the registry of metrics a rubric may name: local `evaluate` modules, loaded offline
grade.py     one student's homework Grade: validation -> inference -> metrics -> points
"""
