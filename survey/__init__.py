"""The survey domain of Manyi: questionnaires, sample frames, campaigns, invitations,
responses and their answers. Owns the database tables of that domain.

``survey`` never imports ``api``, ``models`` or ``scoring``: it hands out DataFrames.
"""
