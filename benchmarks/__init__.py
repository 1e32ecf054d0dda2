"""Measurement harnesses: scripts that time and probe the playground (`make bench`); the app never imports them."""
