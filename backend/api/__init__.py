"""HTTP routes, one module per resource; each handler parses, calls a service, serialises."""
