"""The baselines of the benchmarks: bare FastAPI endpoints on the same machine.

For ``bench_collection.py``, the same routes: they parse the posted form exactly as a real
endpoint must, and answer as the real ones do (a 303 to the next page, an empty 200 to a
status callback), but store nothing and check nothing. For ``bench_dashboard.py``, a fixed
page of the dashboard's size. The cost of FastAPI, Starlette and uvicorn alone.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

app = FastAPI()


@app.post("/s/{token}/p/{number}")
async def page(token: str, number: int, request: Request) -> Response:
    await request.form()
    return RedirectResponse(f"/s/{token}/p/{number + 1}", status_code=303)


@app.post("/sms/status")
async def status(request: Request) -> Response:
    await request.form()
    return Response(status_code=200)


#: A page of the size of the dashboard's (about 16 KB of HTML), rendered by nothing.
PAGE = "<!doctype html><title>bare</title>" + "<p>" + "满意 satisfaction " * 800 + "</p>"


@app.get("/page")
async def bare_page() -> HTMLResponse:
    return HTMLResponse(PAGE)
