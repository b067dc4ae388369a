"""A synthetic LEAD site: a realistic, deterministic history for demos, load and projection tests.

The history is made only through `LeadApplication`'s use cases, never by writing events,
so it obeys every rule the aggregates enforce and runs the same code as real input does.
A `DomainError` raised while seeding is therefore a bug in this generator: none is caught.

Every choice comes from one `random.Random(seed)`, and every time is an offset from the
start of today (UTC), so a seed always gives the same counts, whatever the time of day.
"""
