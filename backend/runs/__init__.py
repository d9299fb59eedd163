"""Run lifecycle: the conversation lock lease, the chunk log with live fan-out, cancel, recovery."""
