"""OpenAI's side of the sandbox: the Files, Batch and synchronous inference APIs.

- ``wire``: error shape, ids, batch endpoints; ``httpio``: reading requests the OpenAI way.
- ``checks``: per-request body checks; ``formats``: structured-output formats (checked, and
  the schema an answer must fit); ``tiers``: which models offer flex processing.
- ``simulate``: simulated chat completions, embeddings and responses; ``chat_stream`` and
  ``responses_stream``: the same answers as server-sent events; ``prompt_cache``: automatic
  prompt caching (the prefixes a prompt shares with earlier ones, and the app's cache).
- ``validation``: whole-file checks of a batch input file; ``execute``: running its lines;
  ``batches``: one batch and its state machine.
- ``fault_answers``: what injected faults look like on OpenAI's wire.
- ``files_routes``, ``batches_routes``, ``sync_routes``: the HTTP routes.

The files and batches themselves are stored in :class:`halfrate.sandbox.state.SandboxState`.
"""
