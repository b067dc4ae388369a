"""The OWG meeting agenda: what happened to referrals, participants and cases in a period.

The project manager prepares each Operational Work Group meeting from it: new
referrals, referrals approved and still waiting for intake, referrals that lapsed
back to the prosecutor, participants in the wind, new cases, filings and warrants,
post-enrollment filings with the date of the incident they concern, and exits.

The tables hold facts, one row per event, keyed by the event's identity (its
aggregate and that aggregate's version), with the time it happened. A fact never
changes once written, so a redelivered or replayed event rewrites the same row
and the order of delivery does not matter; a period's agenda is then a question
about those facts ("what happened between `since` and `until`, and where did each
referral and participant stand at `until`?") answered when read, for any period,
past ones included.

"When it happened" is the event's `occurred_at`, the world time every event
carries, so a fact recorded late still falls in the period it belongs to; the
dates the facts are about (filing, incident, exit, deadline) are kept beside it.
A period is half-open, `since <= t < until`, so consecutive meetings neither
miss nor repeat a fact.

No names, notes, reasons in anyone's words, case numbers or charges: people are
named by `person_id`, referrals by `referral_id`, cases by `case_id`.

`projection` holds the fact tables and the facts each event writes; `queries` reads a
period's facts and assembles the agenda.
"""
