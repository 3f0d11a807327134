"""The local runner: the deployed handlers on 127.0.0.1 with a SendGrid sandbox and moto. Never deployed."""
