"""The write path for events and leads: reading rows, validating them, then scoring and staging them in batches.

Modules:
  rows       reading JSON Lines and CSV (files, stdin, HTTP bodies) and validating each row with its reason
  processor  Processor: each batch in one transaction, through the core's evaluator and the store's repositories
"""
