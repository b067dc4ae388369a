"""The history's integrity: the pure chain rules and slice format, verification against the
store and the topic, the notary.
"""
