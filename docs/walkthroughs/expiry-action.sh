# With `make run` going in one terminal, in another: a paused batch that the scanner resumes before SendGrid
# would discard it, and the mail delivered.
API=${API:-http://127.0.0.1:3000}
SANDBOX=$(curl -s $API/_local/stack | python3 -c 'import json,sys; print(json.load(sys.stdin)["SendGridUrls"]["global"])')
NOW=$(curl -s $API/_local/clock | python3 -c 'import json,sys; print(json.load(sys.stdin)["now"])')

# a batch whose mail goes out in an hour; still paused 30 min before SendGrid would discard it? then resume it
BATCH=$(curl -s -X POST $API/v3/mail/batch -H 'Content-Type: application/json' \
  -d "{\"send_at\": $((NOW + 3600)), \"expiry_action\": \"resume\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["batch_id"])')
# the team's mail in it (SendGrid's POST /v3/mail/send takes the team's own key; the sandbox's /sandbox/mails stands in)
curl -s -w '\n' -X POST $SANDBOX/sandbox/mails -d "{\"batch_id\": \"$BATCH\", \"send_at\": $((NOW + 3600))}"

# pause it: "event: Scheduled Send Paused  batch ...  by arn:aws:iam::000000000000:user/local-developer  (none -> pause)"
curl -s -w '\n' -X POST $API/v3/user/scheduled_sends -H 'Content-Type: application/json' \
  -d "{\"batch_id\": \"$BATCH\", \"status\": \"pause\"}"

# 71 h later: send_at has passed (SendGrid holds the mail), expiry is 2 h away: warnings for 24 h and 6 h left
curl -s -w '\n' -X POST $API/_local/clock -d '{"advance": "71h"}'

# 1 h 45 min more, 15 min before expiry (inside expiry_action's 30 min): the last warning, and the scanner resumes it
curl -s -w '\n' -X POST $API/_local/clock -d '{"advance": "1h45m"}'

# past expiry: nothing expires any more; the mail went out when the pause was deleted
curl -s -w '\n' -X POST $API/_local/clock -d '{"advance": "1h"}'
curl -s -w '\n' "$API/_local/events?batch_id=$BATCH&detail-type=Scheduled%20Send%20Expiry%20Action%20Taken"
curl -s -w '\n' $SANDBOX/sandbox/mails
