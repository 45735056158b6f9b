"""The VPL grammar, shipped as package data."""
