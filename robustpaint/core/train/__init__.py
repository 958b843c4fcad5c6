"""Robust training and evaluation (headless)."""
