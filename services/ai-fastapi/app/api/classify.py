"""``POST /ai/v1/classify`` and ``POST /ai/v1/classify/batch``.

A prediction is ``{"label", "confidence", "unsure", "alternatives"}``: ``confidence`` is a
calibrated probability; ``unsure`` is true below ``AI_CONFIDENCE_THRESHOLD`` (the label is still
the most likely one, for whoever wants it; a rule should not act on it). ``model`` names the
category model used (the organization's active one, the default, or the one asked for).
"""

import asyncio
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from app.api.deps import ClassifierDep, ModelsDep, SettingsDep, classifier_principal, read_json
from app.errors import ApiError
from app.ml.serving import Models
from helpdesk_kit.request_id import current_request_id

router = APIRouter(prefix="/ai/v1", tags=["classify"])

MAX_SUBJECT_CHARS = 1_000
MAX_BODY_CHARS = 20_000
MODEL_FIELD = Field(
    default=None,
    max_length=100,
    description="a model id of your organization, or 'default'; omitted: the active model",
)


class TicketText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: StrictStr = Field(default="", max_length=MAX_SUBJECT_CHARS)
    body: StrictStr = Field(default="", max_length=MAX_BODY_CHARS)

    @model_validator(mode="after")
    def _not_both_empty(self) -> "TicketText":
        if not self.subject.strip() and not self.body.strip():
            raise ValueError("subject and body are both empty: give at least one")
        return self


class ClassifyIn(TicketText):
    model: StrictStr | None = MODEL_FIELD


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[TicketText] = Field(min_length=1)
    model: StrictStr | None = MODEL_FIELD


class Alternative(BaseModel):
    label: str
    confidence: float


class PredictionOut(BaseModel):
    label: str
    confidence: float = Field(ge=0, le=1, description="a calibrated probability")
    unsure: bool
    alternatives: list[Alternative]


class ModelRef(BaseModel):
    id: str
    version: str


class Classification(BaseModel):
    category: PredictionOut
    priority: PredictionOut
    sentiment: PredictionOut
    language: PredictionOut
    model: ModelRef


class ClassifyOut(Classification):
    request_id: str | None


class BatchOut(BaseModel):
    items: list[Classification]
    model: ModelRef
    request_id: str | None


def _json(content: dict[str, Any]) -> Response:
    return Response(orjson.dumps(content), media_type="application/json")


@router.post(
    "/classify",
    response_model=ClassifyOut,
    summary="Classify one ticket text",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ClassifyIn.model_json_schema()}},
        }
    },
)
async def classify(request: Request) -> Response:
    """The hot path: no FastAPI dependencies or body parameter (their solving costs more than
    the model), the body validated by pydantic-core straight from the bytes, the model run inline
    (well under a millisecond of CPU: a thread hop would cost more than it saves), except an
    accurate-tier model's (milliseconds: in a thread)."""
    principal = await classifier_principal(request)
    body = await read_json(request, ClassifyIn)
    models: Models = request.state.models
    category = await models.category_model(principal.organization_id, body.model)
    classifier = models.ready()
    if category.model.tier == "accurate":
        # Milliseconds of NumPy (which releases the GIL): off the event loop, so that the
        # requests of other models go on meanwhile.
        result = await asyncio.to_thread(classifier.classify, body.subject, body.body, category)
    else:
        result = classifier.classify(body.subject, body.body, category)
    result["request_id"] = current_request_id()
    return _json(result)


@router.post(
    "/classify/batch",
    response_model=BatchOut,
    summary="Classify several ticket texts (at most AI_BATCH_MAX_ITEMS, 100 by default)",
)
async def classify_batch(
    body: Annotated[BatchIn, Body()],
    principal: ClassifierDep,
    models: ModelsDep,
    settings: SettingsDep,
) -> Response:
    if len(body.items) > settings.AI_BATCH_MAX_ITEMS:
        raise ApiError(
            422,
            "validation_error",
            "Too many items.",
            {"items": [f"at most {settings.AI_BATCH_MAX_ITEMS} items per request"]},
        )
    category = await models.category_model(principal.organization_id, body.model)
    classifier = models.ready()

    def run() -> list[dict[str, Any]]:
        return [classifier.classify(item.subject, item.body, category) for item in body.items]

    items = await asyncio.to_thread(run)
    for item in items:
        del item["model"]
    return _json(
        {
            "items": items,
            "model": {"id": category.id, "version": category.version},
            "request_id": current_request_id(),
        }
    )
