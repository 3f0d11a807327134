# With `make run` going in one terminal (it prints each event as it happens), in another:
API=${API:-http://127.0.0.1:3000}
NOW=$(curl -s $API/_local/clock | python3 -c 'import json,sys; print(json.load(sys.stdin)["now"])')

# 1. A batch id for mail that goes out in an hour (send_at lets the service time its warnings).
BATCH=$(curl -s -X POST $API/v3/mail/batch -H 'Content-Type: application/json' -d "{\"send_at\": $((NOW + 3600))}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["batch_id"])')

# 2. Pause it, and see the event: Scheduled Send Paused, by you (none -> pause).
curl -s -w '\n' -X POST $API/v3/user/scheduled_sends -H 'Content-Type: application/json' \
  -d "{\"batch_id\": \"$BATCH\", \"status\": \"pause\"}"
curl -s -w '\n' "$API/_local/events?batch_id=$BATCH"

# 3. Move the clock 71 hours: the mail is held, and SendGrid would discard it 2 hours from now.
#    The expiry scanner runs once and answers what it did: two warnings (24 h and 6 h left).
curl -s -w '\n' -X POST $API/_local/clock -d '{"advance": "71h"}'

# 4. See the warnings a team's subscriber would get.
curl -s -w '\n' "$API/_local/events?batch_id=$BATCH&detail-type=Scheduled%20Send%20Expiry%20Warning"
