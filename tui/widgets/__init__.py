"""One widget per pane: agents, conversations, messages, composer, status."""
