"""The evaluation view: de-identified facts for the PCG and evaluators, and their aggregates.

LEAD sites are judged on equity and outcomes (referrals against a baseline of eligible
arrests, net widening, time to intake, lapses, the dose of case management, housing,
income, and filings before and after enrollment), so this projection keeps exactly the
facts those questions need and nothing that names a person: no names, aliases, birth
dates, contact notes, goal texts or free-text reasons ever reach its tables.

Each row is one fact keyed by the identity of what it records (a referral, a
participant, a contact, an observation event, a case), written with the aggregate
version as guard, so a redelivered or replayed event changes nothing. There are no
running counters: every number is counted at query time.

Person and participant ids stay in these internal tables because joining needs them
(filings to enrollment dates, observations to the participant they follow), but no
query returns anything person-level: every query answers with counts and figures
derived from counts, and every count from 1 up to the suppression threshold (11 by
default, a PCG setting) is withheld as ``{"count": None, "suppressed": True}``, as is
every share, rate or quantile derived from a withheld count.

The SQL only fetches grouped or de-identified rows; the arithmetic (quantiles,
transitions, exposure months, before/after windows, suppression) is done by pure
functions, which the unit tests exercise without a database.

`projection` holds the tables and the rows each event writes, `suppression` the
small-count rules, `summaries` the pure arithmetic over fetched rows, and `queries` the
report queries.
"""
