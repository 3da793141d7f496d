"""Pure decisions on plain values, with time passed in."""
