"""The homework: score each student's fine-tuned text classifier on a held-out set.

data.py      the review corpus, split by movie into a released training split and a held-out split
validate.py  what a model folder must be before anything loads it (trusted process, JSON and headers only)
infer.py     the small trusted script that runs inside the sandbox: texts in, logits out
score.py     inference in the sandbox, metrics through `evaluate` in the trusted process
grade.py     one student's homework Grade: validation -> inference -> metrics -> points
"""
