"""The plugins layer: manifests, discovery and enable/disable state (`registry`), loading a plugin into a
running proxy (`loader`), its config (`config`) and validation (`validator`)."""
