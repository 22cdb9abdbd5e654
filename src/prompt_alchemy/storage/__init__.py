"""The prompt library: the Store protocol, the SQLite store and the in-memory vector index."""
