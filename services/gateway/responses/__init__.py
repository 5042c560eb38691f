"""The OpenAI Responses API front door (/v1/responses): docs/responses.md."""

from services.gateway.responses.create import Answer, create_response
from services.gateway.responses.routes import (
    create_handler,
    delete_handler,
    get_handler,
    input_items_handler,
    responses_routes,
)

__all__ = [
    "Answer",
    "create_handler",
    "create_response",
    "delete_handler",
    "get_handler",
    "input_items_handler",
    "responses_routes",
]
