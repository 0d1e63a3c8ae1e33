"""JSON API operations refuse query parameters they do not take.

FastAPI ignores an unknown query parameter, so a typo (``?limt=10``, ``?formt=sav``) would
silently give the default instead of what was asked. Under ``/api/v1`` it is a 422 naming
the parameter and the ones the operation takes, in the API's one error shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError


def _declared(dependant: Any) -> frozenset[str]:
    """The query parameters an operation declares, its dependencies' included."""
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared(sub)
    return frozenset(names)


def _allowed(route: Any) -> frozenset[str]:
    """The route's query parameters, worked out on its first request and kept on it."""
    known = getattr(route, "_known_query", None)
    if known is None:
        known = route._known_query = _declared(route.dependant)
    return known


async def known_query_only(request: Request) -> None:
    route = request.scope.get("route")
    if getattr(route, "dependant", None) is None:
        return
    allowed = _allowed(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in allowed]
    if unknown:
        takes = ", ".join(sorted(allowed)) or "none"
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name),
                 "msg": f"unknown query parameter {name!r}; this operation takes: {takes}",
                 "input": request.query_params.get(name)}
                for name in unknown
            ]
        )  # fmt: skip


#: For ``APIRouter(dependencies=[KnownQueryOnly])`` and single routes.
KnownQueryOnly = Depends(known_query_only)
