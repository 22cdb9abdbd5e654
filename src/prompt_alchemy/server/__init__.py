"""The long-running server runtime: the MCP server's process (transports, signals, health), with the library's
maintenance and the training schedule beside it. `prompt-alchemy serve` parses its options and calls
:func:`prompt_alchemy.server.runtime.run`."""
