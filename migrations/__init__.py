"""One-off upgrade steps for data written by earlier releases (docs/operations/upgrades.md)."""
