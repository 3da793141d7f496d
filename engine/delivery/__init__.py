"""Rendering, links, MIME and the transports that carry messages out."""
