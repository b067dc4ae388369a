"""Sealing sensitive fields with per-person data keys, and the site's master key ring."""
