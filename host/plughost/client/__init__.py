"""The client layer: one conversation with one plugin process (`session`) and the typed proxies over it
(`proxies`). Imports only protocol, transport and errors."""
