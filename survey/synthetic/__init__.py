"""Synthetic data with known truth, for recovery tests and demos.

- ``responses``: responses simulated from a structural model with known parameters.
- ``contacts``: a week of hotline contacts with known agent and team effects, and replies.

May import: :mod:`survey.questionnaire`.
"""
