"""HTTP routers under /api/v1; each parses, calls one domain function and shapes the answer."""
