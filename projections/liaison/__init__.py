"""The liaison view: the liaison prosecutor's picture of each participant's cases.

The liaison prosecutor coordinates a participant's non-diverted cases: pre-existing
cases and warrants, and filings made after enrollment. This view holds exactly what
that work needs and what a consent to the liaison prosecutor can cover: legal status
(cases, charges, warrants, charging decisions, recommendations, hearings,
dispositions), program status (active, inactive, in the wind, exited) and the
progress summaries a case manager chose to share with the liaison prosecutor or a
public defender (the two readers of this view; each reads only those shared with them).

It never holds contact notes, goals, living situation, income or anything about
health: those events imply no rows here at all, so no query, bug or later change to
a query can disclose them from this schema (Golden Rule #1: no one may be worse off
for what they told their case manager). Nor does it hold a charging decision's
free-text note, nor the typed reasons of a status change or an exit, which the
prosecution feed withholds too.

Consent is not checked here: rows are written whatever the consent, because consent
is decided at the moment of reading, not when an event was recorded (a revocation
must hide the person at once, and a new consent must show their history). The
caller of `case_view` passes only the people whose consent covers the liaison
prosecutor now.

Every row is keyed by the identity of what it describes (a case, a warrant in a
case, a hearing as the case event that set it, a person, a summary) and guarded by
its aggregate's version, so a redelivered or replayed event changes nothing.

`projection` holds the tables and the rows each event writes; `queries` reads and
assembles the view (`case_view`, `person_ids_in_view`).
"""
