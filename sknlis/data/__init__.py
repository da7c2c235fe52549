"""Data files that ship with sknlis."""
