"""Generation orchestration: the three phases, their templates, personas and target-model adaptation."""
