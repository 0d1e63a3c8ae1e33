"""Statistical models of Manyi: PLS path modelling, covariance-based SEM and measurement quality.

Pure: arrays and DataFrames in, result objects out. This package imports nothing else of
Manyi's (see ../shared/docs/architecture.md), and importing it never imports the web stack.
"""
