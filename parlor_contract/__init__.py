"""What the API (``chalicelib``) and the media worker (``media_worker``) agree on, spelled once.

Both import this package; it imports only the standard library, so the worker's image and
the API's Lambda package can each carry it without the other's code (README: "Layout").

- ``signatures``: the signed calls between them (control commands, the speaking callback).
- ``media``: roles, control actions, the media token, the speaking callback's path.
- ``worker``: the worker's environment variables, its states and its heartbeat record.
- ``web``: the web client's content security policy (``local.web`` and the CDK serve it).
"""
