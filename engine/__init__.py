"""Nurture's engine: everything that runs a campaign once `dsl` has parsed and checked it.

Packages, each owning one concern (see docs/architecture.md):
  core/      pure decisions on plain values, time passed in: scoring, stages, journeys, schedules
  store/     the only code that knows SQL: models, migrations, repositories
  ingest/    the write path for events and leads: read, validate, score, store
  delivery/  rendering, links and tokens, MIME, transports (SMTP, webhook, memory), retries
  daemon/    the unattended process: lock, heartbeat, ticks, claim -> send -> record, signals
  lab/       the virtual clock: scenarios, simulate, backtest, demo
  reports/   reports for people over store reads: funnel, emails, journeys, leads, health
  console/   the web console at /: pages, sign-in, roles, CSRF (served by http/)
  http/, cli/  thin adapters over the above
Modules at this level: config, errors, logs, service (the campaign and its store as one object), experiments
(each split step's arms measured from the store, for the daemon's winner picking and the reports alike).
"""
