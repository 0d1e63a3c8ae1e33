"""The survey domain of Manyi: questionnaires, sample frames, campaigns, invitations,
responses and their answers. Owns the database tables of that domain.

It lives in rooms, each a package whose docstring says what it holds and may import:
``campaigns`` at the top, then ``cati``, ``sms``, ``answering``, then ``remedy``,
``exports``, ``synthetic``, ``analyses`` and ``frames``, then ``questionnaire``, ``staff``
and ``aapor``, then ``db``, and the leaves ``signing`` and ``errors`` (ARCHITECTURE.md; the
import contracts in pyproject.toml hold it). ``survey`` never imports ``api`` or
``scoring``, and of ``models`` only ``models.syntax``, the one lavaan reader: it hands out
DataFrames.
"""
