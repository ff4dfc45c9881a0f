"""What every channel relies on: the guard, notices, offered buttons, deliveries, identities, opt-outs, retries,
sender lanes, and the tables and stores that persist them.

Imported module by module (`connectors.shared.guard`, ...): the package itself exports nothing, so a module that
needs one table does not load the channels' client libraries.
"""
