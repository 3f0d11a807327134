# With `make run` going in one terminal, in another:
API=${API:-http://127.0.0.1:3000}

# create a batch id (assign it to your scheduled /mail/send as "batch_id")
BATCH=$(curl -s -X POST $API/v3/mail/batch | python3 -c 'import json,sys; print(json.load(sys.stdin)["batch_id"])')
echo "$BATCH"

# it validates
curl -s -w '\n' $API/v3/mail/batch/$BATCH

# pause it
curl -s -w '\n' -X POST $API/v3/user/scheduled_sends \
  -H 'Content-Type: application/json' -d "{\"batch_id\": \"$BATCH\", \"status\": \"pause\"}"

# list what is paused or cancelled, and read this one (SendGrid answers an array)
curl -s -w '\n' $API/v3/user/scheduled_sends
curl -s -w '\n' $API/v3/user/scheduled_sends/$BATCH

# change the pause into a cancel, then back
curl -s -i -X PATCH $API/v3/user/scheduled_sends/$BATCH \
  -H 'Content-Type: application/json' -d '{"status": "cancel"}'
curl -s -i -X PATCH $API/v3/user/scheduled_sends/$BATCH \
  -H 'Content-Type: application/json' -d '{"status": "pause"}'

# resume: delete the pause (204), after which the send goes out at send_at
curl -s -i -X DELETE $API/v3/user/scheduled_sends/$BATCH

# bad input never reaches SendGrid
curl -s -w '\n' $API/v3/user/scheduled_sends/a%2Fb
