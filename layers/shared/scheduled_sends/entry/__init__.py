"""Entry points: how Lambda calls in, and the composition root.

bootstrap   the composition root: builds the container's services (store, registry, SendGrid, bus, settings,
            clock, idempotency) once per container and hands them to the application
api         API Gateway proxy events to operations and back (errors as SendGrid-style bodies)
authorizer  team tokens (AuthMode=TOKEN)
scheduled   the scanner's EventBridge schedule
snapstart   SnapStart runtime hooks
ops         the admin routes (/ops/...) and the at-risk widget, given the container's services
headers     reading API Gateway's header maps
"""
