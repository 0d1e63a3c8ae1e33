"""The ``manyi`` command line (Typer): one module per group of commands.

``main`` assembles the commands; ``support`` holds what they share (settings and engine,
errors as exit codes). Heavy imports happen inside the commands that need them, so
``manyi questionnaire validate`` starts fast.

May import :mod:`api.analysis`, the top-level ``api`` modules, :mod:`survey`, :mod:`models`
and :mod:`scoring`; never :mod:`api.web` (it starts the app by name).
"""
