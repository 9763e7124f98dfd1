"""Custom category models: train (JSON or CSV), inspect, list, activate, roll back.

- ``POST /ai/v1/models``: ``{"name", "examples": [{"text", "label"}], "tier"?}`` as JSON, or a
  multipart form with ``name``, ``file`` (CSV, UTF-8, a header row with ``text`` and ``label`` (or
  ``category``) columns) and ``tier``. Checked here (labels, examples per label, sizes, whether
  the tier is installed), then queued: 202 and the record; the worker (``python -m app.worker``)
  trains it. ``tier``: ``standard`` (default) or ``accurate`` (sentence embeddings, the
  ``accurate`` extra).
- ``GET /ai/v1/models/{id}``: status (queued, training, ready, failed), progress, stage, error,
  held-out metrics (accuracy, macro-F1, per-label scores, calibration error). ``default`` is the
  shipped category model.
- ``POST /ai/v1/models/{id}/activate``; ``POST /ai/v1/models/rollback`` (the previous activation
  comes back; with none left, the default model); ``GET /ai/v1/models/active``.
Every model belongs to the organization of the token that trained it; others see a 404.
"""

import asyncio
import csv
import io
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator
from starlette.datastructures import UploadFile

from app.api.deps import ModelsDep, RegistryDep, SettingsDep, StoreDep, TrainerDep, TrainingDep
from app.errors import ApiError
from app.ml import embeddings
from app.ml.defaults import DEFAULT_MODEL_ID
from app.ml.linear import Tier, check_examples, hyperparameters
from app.ml.registry import ModelRecord, new_model_id, now, training_set_key
from helpdesk_kit.errors import pydantic_details

router = APIRouter(prefix="/ai/v1/models", tags=["models"])

MAX_TEXT_CHARS = 20_000
ModelId = Annotated[str, Path(max_length=100)]


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    label: StrictStr = Field(min_length=1, max_length=100)

    @field_validator("text", "label")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class TrainingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=200)
    examples: list[Example] = Field(min_length=1)
    tier: Tier = Field(
        default="standard",
        description="standard: TF-IDF + linear SVM; accurate: plus sentence embeddings "
        "(all-MiniLM-L6-v2; only where the service's 'accurate' extra is installed)",
    )


class ModelOut(ModelRecord):
    active: bool = False


class Activation(BaseModel):
    organization_id: int
    active: str = Field(description="the active category model: a model id or 'default'")
    history: list[str] = Field(description="activated model ids, newest first")


_TRAINING_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": TrainingIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["name", "file"],
                    "properties": {
                        "name": {"type": "string"},
                        "tier": {"type": "string", "enum": ["standard", "accurate"]},
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV, UTF-8, header with text and label columns",
                        },
                    },
                }
            },
        },
    }
}


@router.post(
    "",
    status_code=202,
    response_model=ModelOut,
    summary="Train a custom category model (JSON or CSV upload)",
    openapi_extra=_TRAINING_BODY,
)
async def create_model(
    request: Request,
    principal: TrainingDep,
    registry: RegistryDep,
    store: StoreDep,
    settings: SettingsDep,
) -> JSONResponse:
    training = await _read_training(request, settings.AI_TRAINING_MAX_UPLOAD_BYTES)
    if len(training.examples) > settings.AI_TRAINING_MAX_EXAMPLES:
        raise ApiError(
            422,
            "validation_error",
            "Too many examples.",
            {"examples": [f"at most {settings.AI_TRAINING_MAX_EXAMPLES} examples"]},
        )
    problems = check_examples([e.label for e in training.examples])
    if problems:
        raise ApiError(
            422, "validation_error", "The examples cannot train a model.", {"examples": problems}
        )
    if training.tier == "accurate":
        missing = embeddings.available()
        if missing is not None:
            raise ApiError(
                422,
                "validation_error",
                "The accurate tier is not installed on this service.",
                {"tier": [missing]},
            )
    record = ModelRecord(
        id=new_model_id(),
        name=training.name,
        organization_id=principal.organization_id,
        tier=training.tier,
        labels=sorted({e.label for e in training.examples}),
        examples=len(training.examples),
        created_at=now(),
    )
    lines = "\n".join(json.dumps(e.model_dump(), ensure_ascii=False) for e in training.examples)
    await asyncio.to_thread(store.put, training_set_key(record.id), lines.encode())
    await registry.create(record)
    await registry.enqueue(record.id)
    return JSONResponse(
        ModelOut(**record.model_dump()).model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/ai/v1/models/{record.id}"},
    )


@router.get("", response_model=list[ModelOut], summary="The organization's models, newest first")
async def list_models(principal: TrainerDep, registry: RegistryDep) -> list[ModelOut]:
    active = await registry.active_id(principal.organization_id)
    return [
        ModelOut(**r.model_dump(), active=r.id == active)
        for r in await registry.of_organization(principal.organization_id)
    ]


@router.get("/active", response_model=Activation, summary="The active category model")
async def get_active(principal: TrainerDep, registry: RegistryDep) -> Activation:
    return await _activation(registry, principal.organization_id)


@router.post("/rollback", response_model=Activation, summary="Undo the latest activation")
async def rollback(principal: TrainerDep, registry: RegistryDep, models: ModelsDep) -> Activation:
    if not await registry.history(principal.organization_id):
        raise ApiError(409, "nothing_to_roll_back", "The default model is already active.")
    await registry.rollback(principal.organization_id)
    models.forget_activation(principal.organization_id)
    return await _activation(registry, principal.organization_id)


@router.get("/{model_id}", response_model=ModelOut, summary="A model: status, progress, metrics")
async def get_model(
    model_id: ModelId, principal: TrainerDep, registry: RegistryDep, models: ModelsDep
) -> ModelOut:
    if model_id == DEFAULT_MODEL_ID:
        return _default_model(models, principal.organization_id)
    record = await _owned(registry, model_id, principal.organization_id)
    active = await registry.active_id(principal.organization_id)
    return ModelOut(**record.model_dump(), active=record.id == active)


@router.post(
    "/{model_id}/activate",
    response_model=Activation,
    summary="Use this model for the organization",
)
async def activate(
    model_id: ModelId, principal: TrainerDep, registry: RegistryDep, models: ModelsDep
) -> Activation:
    record = await _owned(registry, model_id, principal.organization_id)
    if record.status != "ready":
        raise ApiError(
            409, "model_not_ready", f"Model {model_id!r} is {record.status}; only ready ones."
        )
    await models.category_model(principal.organization_id, model_id)  # loads: fails here, not later
    await registry.activate(principal.organization_id, model_id)
    models.forget_activation(principal.organization_id)
    return await _activation(registry, principal.organization_id)


async def _owned(registry: RegistryDep, model_id: str, organization_id: int) -> ModelRecord:
    record = await registry.get(model_id)
    if record is None or record.organization_id != organization_id:
        raise ApiError(404, "not_found", f"No model {model_id!r} in this organization.")
    return record


async def _activation(registry: RegistryDep, organization_id: int) -> Activation:
    history = await registry.history(organization_id)
    return Activation(
        organization_id=organization_id,
        active=history[0] if history else DEFAULT_MODEL_ID,
        history=history,
    )


def _default_model(models: ModelsDep, organization_id: int) -> ModelOut:
    models.ready()
    bundle = models.bundle
    assert bundle is not None
    category = bundle.heads["category"]
    status: Literal["ready"] = "ready"
    return ModelOut(
        id=DEFAULT_MODEL_ID,
        name="default category model (shipped)",
        organization_id=organization_id,
        status=status,
        progress=1.0,
        stage="ready",
        labels=category.labels,
        examples=bundle.examples,
        created_at=now(),
        version=bundle.version,
        metrics=bundle.metrics["category"],
        hyperparameters=hyperparameters(category),
    )


async def _read_training(request: Request, max_bytes: int) -> TrainingIn:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, "request_too_large", f"The body is larger than {max_bytes} bytes.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        raw = await request.body()
        if len(raw) > max_bytes:
            raise ApiError(413, "request_too_large", f"The body is larger than {max_bytes} bytes.")
        return _validated(_parse_json(raw))
    if content_type == "multipart/form-data":
        return await _read_csv_form(request, max_bytes)
    raise ApiError(
        415,
        "unsupported_media_type",
        "Send application/json or multipart/form-data (a CSV file).",
    )


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ApiError(400, "parse_error", "The request body is not UTF-8.") from exc
    except ValueError as exc:
        raise ApiError(400, "parse_error", f"The request body is not valid JSON: {exc}.") from exc


def _validated(data: Any) -> TrainingIn:
    try:
        return TrainingIn.model_validate(data)
    except ValidationError as exc:
        raise ApiError(
            422, "validation_error", "Some fields are not valid.", pydantic_details(exc.errors())
        ) from exc


async def _read_csv_form(request: Request, max_bytes: int) -> TrainingIn:
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception as exc:  # a malformed multipart body is the client's
        raise ApiError(400, "parse_error", f"The form cannot be read: {exc}.") from exc
    upload, name, tier = form.get("file"), form.get("name"), form.get("tier")
    if not isinstance(upload, UploadFile):
        raise ApiError(
            422, "validation_error", "No CSV file.", {"file": ["a CSV file is required"]}
        )
    raw = await upload.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ApiError(413, "request_too_large", f"The file is larger than {max_bytes} bytes.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "parse_error", f"The file is not UTF-8 (byte {exc.start} cannot be read)."
        ) from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
    label_column = columns.get("label") or columns.get("category")
    if "text" not in columns or label_column is None:
        found = ", ".join(repr(c) for c in reader.fieldnames or []) or "none"
        raise ApiError(
            422,
            "validation_error",
            "The CSV needs a header row with 'text' and 'label' columns.",
            {"file": [f"columns found: {found}; needed: 'text' and 'label' (or 'category')"]},
        )
    try:
        examples = [
            {"text": row.get(columns["text"]) or "", "label": row.get(label_column) or ""}
            for row in reader
        ]
    except csv.Error as exc:
        raise ApiError(400, "parse_error", f"The CSV cannot be read: {exc}.") from exc
    training: dict[str, Any] = {
        "name": name if isinstance(name, str) else "",
        "examples": examples,
    }
    if tier is not None:
        training["tier"] = tier if isinstance(tier, str) else ""
    return _validated(training)
