"""Issue, list and revoke team tokens (AuthMode=TOKEN) of a deployed stack or of the local server."""
