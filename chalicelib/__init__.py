"""Parlor: everything that ships to Lambda lives in this package."""
