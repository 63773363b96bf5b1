"""Layer 1: bytes <-> frames <-> messages (PROTOCOL.md). No processes, no I/O."""
