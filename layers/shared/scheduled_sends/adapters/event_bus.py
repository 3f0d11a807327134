"""The only code of the service that puts events on its EventBridge bus (the scanner's). The change events reach
the bus without it: from the batches table's stream, through the template's ChangeEventsPipe."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ..domain import changes
from ..runtime import clock
from ..runtime.container import Container, singleton
from ..runtime.settings import settings
from .aws import aws_client

SOURCE = "scheduled-sends"
EXPIRY_WARNING = "Scheduled Send Expiry Warning"
EXPIRY_ACTION_TAKEN = "Scheduled Send Expiry Action Taken"
EXPIRED = "Scheduled Send Expired"
SLOT_RECLAIMED = "Scheduled Send Slot Reclaimed"
SLOT_RECLAIMABLE = "Scheduled Send Slot Reclaimable"
DRIFT = "Scheduled Send Drift"
# Published by the table's stream through the template's ChangeEventsPipe, never by this module.
PAUSED, CANCELLED, STATUS_CHANGED, RESUMED = changes.DETAIL_TYPES


class PublishFailed(Exception):
    pass


class EventBus:
    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        answer = self._client.put_events(
            Entries=[
                {
                    "EventBusName": self._bus_name,
                    "Source": SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, sort_keys=True),
                    "Time": datetime.fromtimestamp(clock.now(), UTC),  # the service's time (the local runner moves it)
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            raise PublishFailed(f"EventBridge refused the {detail_type} event")


@singleton
def event_bus(container: Container) -> EventBus:
    return EventBus(aws_client(container, "events"), settings().event_bus_name)
