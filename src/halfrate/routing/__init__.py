"""Routing by urgency: the policy's rules (:mod:`rules`), read from TOML (:mod:`policy_file`),
applied to requests as they are submitted (:mod:`router`) and explained in words
(:mod:`explain`)."""
