# With `make run` going (its default subusers: eurocorp is an EU subuser): its calls reach only the EU sandbox.
API=${API:-http://127.0.0.1:3000}

curl -s -X POST $API/v3/mail/batch -H 'on-behalf-of: eurocorp'
