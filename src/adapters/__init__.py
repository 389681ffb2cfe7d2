"""Adapters: one technology per module, one port per class (and shared helpers)."""
