"""zonesync: SIP domains as code.

describe (model, load) -> compile -> plan -> apply -> verify (resolve over dnssource).
"""

__version__ = "0.1.0"
