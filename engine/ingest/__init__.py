"""The write path for events and leads: reading rows, validating them, then scoring and staging them in batches.

Modules:
  rows       reading JSON Lines and CSV (files, stdin, HTTP bodies) and validating each row with its reason
  processor  Processor: each batch in one transaction, through the core's evaluator and the store's repositories
  collection fewer garbage collections while batches are processed (they dominated ingest's CPU time)
  cache      LeadCache: lead state kept between batches, used while the store still holds the revision it saved
  feedback   bounces and complaints relays report later: suppress the address, record the built-in event
  esp        the relays' webhook payloads (Postmark, SendGrid, Mailgun) verified and read into notices
  sns        Amazon SES notifications through SNS: the message signature, the certificate host, the topics
  dsn        bounce messages (RFC 3464) and complaints (RFC 5965) read into notices
  mapping    a CRM export's columns and values mapped onto a lead's fields
  accounts   accounts kept current: after each batch, those its leads touched; on the tick, those time moves
  follow_ups follow-up SLA clocks started and met in the transaction that stores the entry or the event
"""
