"""The HTTP floor of benchmarks/serving.py: a FastAPI route that parses the body, answers constant.

``serving.py`` runs it with the stack ``mlcycle serve`` uses: uvicorn with uvloop and httptools,
one worker, no access log. No model, no validation: what is left is the cost of HTTP, routing and
JSON parsing, the most a model server on this stack could reach.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()
_ANSWER = orjson.dumps({"predictions": [0.5]})


@app.post("/v1/models/bench/predict")
async def predict(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(_ANSWER, media_type="application/json")


@app.get("/readyz")
async def readyz() -> Response:
    return Response(b"ok", media_type="text/plain")
