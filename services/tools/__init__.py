"""Operator tools that drive the use cases: benchmarks, the long history they read, the demo
seeder.
"""
