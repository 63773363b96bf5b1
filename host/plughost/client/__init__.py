"""The client layer: the poll pump over a plugin's pipes (`channel`), one conversation with one plugin
process over it (`session`), the words of every failure (`diagnosis`) and the typed proxies (`proxies`).
Imports only protocol, transport and errors."""
