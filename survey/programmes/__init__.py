"""Standing programmes and the contact events that feed them.

A programme (:mod:`~survey.programmes.manage`) is a standing campaign fed by events rather
than by a drawn sample: after a hotline call, a hall visit or a chat, the contact-centre
system reports the contact, and :mod:`~survey.programmes.decide` decides once, for every
event whichever way it arrived (the API, a daily file read by :mod:`~survey.programmes.files`,
a message queue), whether the customer is invited. Invitations, outbox rows and responses
belong to the programme's own campaign, so the dispatcher and the answering machinery work
on them unchanged.

This room sits with :mod:`survey.campaigns` at the top of survey's rooms: it may import
``survey.campaigns`` (the campaign's life cycle, the contact-frequency rules of
:mod:`survey.campaigns.frequency`) and every room below; no room of survey imports it.
"""
