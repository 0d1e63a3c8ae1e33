"""Campaigns: who is asked, by which channels, and the campaign's life cycle.

The top room of the domain: it puts the others to work.

- ``lifecycle``: create, draw the sample, invite, queue invitations, call cases, pause/close.
- ``launch``: a campaign's first messages to the outbox, then running.
- ``resurvey``: the short re-survey after a service-remedy call.
- ``cases``: a campaign's sampled cases with their AAPOR final dispositions.

May import every other room of :mod:`survey`; none of them imports it.
"""
