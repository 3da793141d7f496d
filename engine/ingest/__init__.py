"""The write path for events and leads: reading rows, validating, scoring and storing them."""
