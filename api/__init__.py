"""Manyi's outside world: the FastAPI application, its pages, settings and the ``manyi``
command line. Nothing imports ``api``.
"""
