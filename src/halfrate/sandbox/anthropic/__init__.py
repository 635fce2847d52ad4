"""Anthropic's side of the sandbox: the Messages and Message Batches APIs.

- ``wire``: error shape, ids, times and versions; ``checks``: Messages body checks.
- ``prompt_cache``: prompt caching and Claude's (approximate) token counts.
- ``simulate``: simulated Claude messages; ``stream``: the same as server-sent events.
- ``execute``: running a Message Batch's requests; ``batches``: one Message Batch and its state
  machine; ``store``: the Message Batches of one app.
- ``fault_answers``: what injected faults look like on Anthropic's wire.
- ``messages_routes``, ``batches_routes``: the HTTP routes.
"""
