"""Runtime: what every other floor runs on. Settings (from the template's environment variables), the clock and the
request deadline (`clock.Clock`: the time as the application reads it), observability (logger, tracer, metrics),
and the container that memoises every per-container singleton (`container`: the composition root's cache). Imports
only the domain, never an adapter."""
