"""The record model and the result catalogue: every rule and every result table, declared once."""
