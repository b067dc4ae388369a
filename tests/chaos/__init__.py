"""The fault suite: commands through the API while processes and servers fail.

`make chaos` runs `test_faults.py` on a stack of its own (`.lead/chaos`, ports
59500-59520); `tests/e2e/test_faults_quick.py` runs a short version on the test stack.
"""
