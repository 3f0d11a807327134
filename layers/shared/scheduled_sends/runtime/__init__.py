"""Runtime: what every other floor runs on. Settings (from the template's environment variables), the
clock and the request deadline, observability (logger, tracer, metrics), and the container that owns every
per-container singleton. Imports only the domain, never an adapter."""
