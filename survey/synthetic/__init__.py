"""Synthetic data with known truth: responses simulated from a structural model.

May import: :mod:`survey.questionnaire`.
"""
