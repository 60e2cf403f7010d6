"""Admin API routes of collections (jobs run in order) and their runs."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body

from syncjobs.admin import collections
from syncjobs.admin.api_models import IdempotencyKey, RunRequest, caller_of, new_router, request_id_of
from syncjobs.admin.api_responses import (
    CHANGE,
    READ,
    WITH_BODY,
    CollectionApplied,
    CollectionDeleted,
    CollectionDetail,
    CollectionList,
    CollectionRunDetail,
    CollectionRunList,
    CollectionRunStarted,
    documented,
)
from syncjobs.models.collection import CollectionRun

router = new_router()


@router.get("/collections", responses=documented(200, 422))
def list_collections() -> CollectionList:
    return CollectionList(collections=collections.list_collections())


@router.get("/collections/<collection_id>", responses=documented(200, *READ))
def show_collection(collection_id: str) -> CollectionDetail:
    summary, definition = collections.show_collection(collection_id)
    return CollectionDetail(**dict(summary), definition=definition)


@router.put("/collections/<collection_id>", responses=documented(200, *WITH_BODY))
def put_collection(
    collection_id: str,
    document: Annotated[dict[str, Any], Body(description="a collection: examples/collections/*.yaml as JSON")],
) -> CollectionApplied:
    """Create or replace the collection; every step must name an existing job (422 otherwise)."""
    definition = collections.parse_collection({**document, "collection_id": collection_id})
    return CollectionApplied(collection_id=collection_id, version=collections.apply_collection(definition))


@router.delete("/collections/<collection_id>", responses=documented(200, *CHANGE))
def delete_collection(collection_id: str) -> CollectionDeleted:
    """Delete the collection and its schedule; refused (409) while it runs. Its runs stay."""
    collections.delete_collection(collection_id)
    return CollectionDeleted(collection_id=collection_id, deleted=True)


@router.post("/collections/<collection_id>/runs", status_code=202, responses=documented(202, *WITH_BODY))
def request_collection_run(
    collection_id: str, request: Annotated[RunRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[CollectionRunStarted]:
    """Run the collection now (202). The same Idempotency-Key names the same collection run."""
    event = router.current_event
    started = collections.request_collection_run(
        collection_id, request.type.value, caller_of(event), "api", request_id_of(event, idempotency_key)
    )
    body = CollectionRunStarted(
        collection_id=collection_id, collection_run_id=started.run_id, approval_id=started.approval_id
    )
    return Response(202, content_types.APPLICATION_JSON, body)


@router.get("/collections/<collection_id>/runs", responses=documented(200, *READ))
def list_collection_runs(collection_id: str) -> CollectionRunList:
    return CollectionRunList(runs=collections.list_collection_runs(collection_id))


@router.get("/collection-runs/<collection_run_id>", responses=documented(200, *READ))
def get_collection_run(collection_run_id: str) -> CollectionRunDetail:
    """The collection run with the runs of its steps."""
    crun, runs = collections.get_collection_run(collection_run_id)
    return CollectionRunDetail(**dict(crun), runs=runs)


@router.post("/collection-runs/<collection_run_id>/stop", responses=documented(200, *CHANGE))
def stop_collection_run(collection_run_id: str) -> CollectionRun:
    """Stop a collection run: its running step is stopped and no later step starts (409 if it is over)."""
    return collections.stop_collection(collection_run_id, caller_of(router.current_event))
