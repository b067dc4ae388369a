"""Operating the read side: projection status and lag, health figures, read-your-writes,
rebuilds.
"""
