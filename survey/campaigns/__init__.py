"""Campaigns: who is asked, by which channels, and the campaign's life cycle.

The top room of the domain: it puts the others to work.

- ``lifecycle``: create, draw the sample, invite, queue invitations, call cases, pause/close.
- ``launch``: a campaign's first messages to the outbox, then running.
- ``resurvey``: the short re-survey after a service-remedy call.
- ``cases``: a campaign's sampled cases with their AAPOR final dispositions.
- ``plan``: a campaign asked for as a whole (questionnaire, frame, sample, strata, quotas,
  channels, timing, messages), every problem with its field, the draw and the creation: the
  one way the command line and the console create one; its ``SampleDesign`` is stored.
- ``rates``: a campaign's AAPOR outcome rates, as ``manyi rates --campaign`` prints them.
- ``monitor``: the live fieldwork of a campaign, counted from the tables (funnel, by day and
  channel, quota progress, failures) and the campaigns' list with their completes.

May import every other room of :mod:`survey`; none of them imports it.
"""
