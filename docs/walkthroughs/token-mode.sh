# With `make run AUTH_MODE=TOKEN` going in one terminal, in another (the token commands find the running server by
# themselves; LOCAL_URL names it when it is not on port 3000):
API=${API:-http://127.0.0.1:3000}
export LOCAL_URL=$API

# issue a token for the team "payments": it is printed once
ISSUED=$(make -s token-issue TEAM=payments) && echo "$ISSUED"
TOKEN=$(echo "$ISSUED" | sed -n 's/^token: *//p')
TOKEN_ID=$(echo "$ISSUED" | sed -n 's/^token id: *//p')

# the team calls with it, as the official client would send it
curl -s -X POST $API/v3/mail/batch -H "Authorization: Bearer $TOKEN"
curl -s -o /dev/null -w '%{http_code} without a token\n' $API/v3/user/scheduled_sends

# list the tokens (never their secrets), then revoke this one: refused from the next request on
make -s token-list
make -s token-revoke TOKEN_ID=$TOKEN_ID
curl -s -o /dev/null -w '%{http_code} after the revoke\n' $API/v3/user/scheduled_sends -H "Authorization: Bearer $TOKEN"
