"""admin_api: API Gateway (IAM auth) -> admin operations, JSON in and out.

The routes are Powertools Routers, one per resource (syncjobs/admin/*_routes.py); this module makes the
resolver once and includes them. Powertools validates each request against its route's types and each
success body against its response model (the OpenAPI document, docs/openapi.json, is generated from
them); every refusal is a 4xx body of syncjobs/admin/api_errors.py.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from syncjobs.admin import (
    api_errors,
    approval_routes,
    collection_routes,
    job_routes,
    run_routes,
    schedule_routes,
    subscription_routes,
)
from syncjobs.admin.api_models import too_large
from syncjobs.admin.api_responses import Refusal
from syncjobs.observability import logger, metrics, traced_handler

app = APIGatewayRestResolver(enable_validation=True)
for resource in (job_routes, run_routes, subscription_routes, schedule_routes, collection_routes, approval_routes):
    app.include_router(resource.router)
api_errors.register(app)


@logger.inject_lambda_context(clear_state=True)
@traced_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if (reason := too_large(event)) is not None:  # before Powertools parses it (a 5 MB body is 5 MB of JSON)
        logger.info("request refused", extra={"status": 413, "reason": reason})
        return {
            "statusCode": 413,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps(Refusal(message=reason).model_dump(mode="json")),
            "isBase64Encoded": False,
        }
    return app.resolve(event, context)
