"""The official sendgrid client (pip install sendgrid), unchanged, against `make run`'s server."""

import os

from sendgrid import SendGridAPIClient

host = os.environ.get("API", "http://127.0.0.1:3000")
sg = SendGridAPIClient("unused-locally", host=host)  # optionally impersonate_subuser="acme"

batch = sg.client.mail.batch.post().to_dict["batch_id"]
sg.client.user.scheduled_sends.post(request_body={"batch_id": batch, "status": "pause"})
print(sg.client.user.scheduled_sends.get().to_dict)
sg.client.user.scheduled_sends._(batch).delete()
