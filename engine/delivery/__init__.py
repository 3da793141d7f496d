"""What goes out: the template context, rendering, signed links, MIME, and the transports that carry messages.

Modules:
  context    what a template sees (the lead, scores, settings; why a lead qualified, for sales alerts)
  render     a campaign version's Jinja2 templates, sandboxed and bounded, into subject, HTML and text
  limits     the bounds on rendering one email: time, output size, loops, growth; missing values print as nothing
  tokens     signed tokens for unsubscribe and tracking links
  message    RFC 5322 bytes with RFC 8058 one-click unsubscribe headers
  compose    a message composed for a lead: rendered, links signed, pixel added, MIME built
  pool       composing with the rendering done in worker processes (the `render_workers` setting)
  transport  the Transport protocol, the message and result types, and the router by message kind
  smtp, webhook, memory  the transports: pooled aiosmtplib, signed JSON POST, and in-memory for virtual runs
  retry      the one retry policy: what an answer means, how many attempts, backoff with jitter
"""
