"""A walker whose strategy is an Optuna ``search``: trials proposed a batch at a time, each
batch run as a sweep, the study kept as JSON journal lines in Redis.

Named ``searches`` (not ``search``) so it never shadows the public ``search()``.
"""
