"""The MCP server: its tools, prompts, completions and notifications, over stdio and streamable HTTP."""
