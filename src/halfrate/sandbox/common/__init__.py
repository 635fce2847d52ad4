"""What both providers' sides share, and nothing provider-specific.

``jsondata`` (the JSON type, its bytes and digest), ``responses`` (JSON and byte answers),
``sse`` (server-sent event frames and their pacing), ``compose`` (the simulated text and token
counts), ``schema_answer`` and ``schema_values`` (structured answers that fit a JSON Schema, or
break it on purpose), ``batching`` (the completion window and the order a batch's lines run
in) and ``ledger`` (what the sandbox would bill). Modules here import nothing else of the sandbox.
"""
