"""octoDNS providers shipped with zonesync (the embedded default: ``local.LocalProvider``)."""
