"""Satisfaction indexes (0-100), impacts and importance-performance priorities.

Pure functions over model results and DataFrames; never imports ``survey`` or ``api``.
"""
