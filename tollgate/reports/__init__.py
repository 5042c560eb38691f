"""Metering's answers as operators see them: the JSON and CSV that the CLI and the HTTP
admin API both show, built from the contract's messages (so every front shows the same
thing), and the operator's what-if text read into a request. Amounts stay exact
decimal strings; nothing here reads a database."""
