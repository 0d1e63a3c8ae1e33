"""The web layer: the FastAPI app, its routers, pages, dependencies and errors.

- ``app``: the application factory; the only module that imports the routers.
- ``routers/``: one router per domain; no router imports another.
- ``answering_pages``: the questionnaire pages, one router factory for the web form,
  intercept and phone interviews (each router gives it its ``Flow``).
- ``auth``, ``deps``, ``errors``, ``formats``, ``forms``, ``pagination``, ``strict_query``:
  what routers share (sign-in, dependencies, the one error body and the status of each kind
  of domain error, how codes and times are shown, form parsing, pages of lists).
- ``matrix_svg``: the priority matrix drawn as SVG for the dashboard.
- ``templates/``: Jinja2 templates.

May import :mod:`api.analysis`, :mod:`api.permissions`, :mod:`api.settings`,
:mod:`api.transports` and :mod:`survey`. Nothing imports it but the command line's
``serve``, by name (``api.web.app:create_app``).
"""
