"""Reports for people, computed over store reads (aggregates the database computes, pages it returns):
the same figures for the console, the command line and HTML files.

Modules:
  funnel    conversion between consecutive stages, by attribute and cohort, skipped stages, time between stages
  emails    how each journey email does: sent, delivered, opened, clicked, unsubscribed, bounced, and rates
  journeys  each journey as a diagram of its steps (drawn from the compiled plan) with per-step counts
  leads     searching leads (scores computed in bounded batches) and one lead's whole story
  health    daemons, tick lag, queue depth, the oldest due message and recent SMTP failures
  html      a funnel report as a standalone HTML file
  experiments  split steps per arm: rates, uplift, a 95% interval and a p-value, and the winner
  accounts  a lead's account: its values, alerts holding and contacts
"""
