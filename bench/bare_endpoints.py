"""The baseline of ``bench_collection.py``: bare FastAPI endpoints on the same routes.

They parse the posted form exactly as a real endpoint must, and answer as the real ones do
(a 303 to the next page, an empty 200 to a status callback), but store nothing and check
nothing: the cost of FastAPI, Starlette and uvicorn alone on this machine.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

app = FastAPI()


@app.post("/s/{token}/p/{number}")
async def page(token: str, number: int, request: Request) -> Response:
    await request.form()
    return RedirectResponse(f"/s/{token}/p/{number + 1}", status_code=303)


@app.post("/sms/status")
async def status(request: Request) -> Response:
    await request.form()
    return Response(status_code=200)
