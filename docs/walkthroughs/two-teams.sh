# With `make run` going: X-Local-Caller-Arn acts as another principal (only the local runner reads it).
API=${API:-http://127.0.0.1:3000}

B=$(curl -s -X POST $API/v3/mail/batch -H 'X-Local-Caller-Arn: arn:aws:iam::1:user/team-a' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["batch_id"])')
# team-b tries to pause it: 403, the batch belongs to team-a, and nothing reaches SendGrid
curl -s -w '\nHTTP %{http_code}\n' -X POST $API/v3/user/scheduled_sends -H 'X-Local-Caller-Arn: arn:aws:iam::1:user/team-b' \
  -H 'Content-Type: application/json' -d "{\"batch_id\": \"$B\", \"status\": \"pause\"}"
