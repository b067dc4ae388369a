"""The entrypoints on the top floor: the composition root, `lead run`'s supervisor, the command
line.
"""
