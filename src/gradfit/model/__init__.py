"""The model: losses, penalties, the objective bound to data, its pass kernels, the result type.

The bottom layer: it imports nothing else of gradfit's but ``gradfit.exceptions``.
"""
