"""A team's subscriber to the service's events, as a Lambda function behind an EventBridge rule would be written;
`python docs/examples/subscriber.py 8787` serves it over HTTP for `make run LOCAL_EVENTS_URL=http://127.0.0.1:8787`
(the local runner POSTs each event there as EventBridge delivers it to a target).

Events come at least once: it drops a repeat by `detail.event_id`."""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

seen: set[str] = set()  # in a Lambda function: a DynamoDB conditional put, not memory


def lambda_handler(event: dict, context: object = None) -> str | None:
    """One event of the bus: say what matters to the team, once."""
    detail = event["detail"]
    if detail["event_id"] in seen:
        return None  # a repeat delivery
    seen.add(detail["event_id"])
    batch = detail["batch_id"]
    if event["detail-type"] == "Scheduled Send Expiry Warning":
        left, warning = round(detail["seconds_left"] / 3600), detail["threshold_seconds"] // 3600
        return f"batch {batch} is still paused ({warning} h warning): its mail is discarded in {left} h unless resumed"
    if event["detail-type"] == "Scheduled Send Paused" and detail["changed_by"] != detail["owner"]:
        return f"batch {batch} was paused by {detail['changed_by']}"
    return None


class Delivery(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        message = lambda_handler(event)
        if message:
            print(message, flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # one line per message, not one per request
        pass


if __name__ == "__main__":
    server = HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8787), Delivery)
    print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()
