"""The process that runs a campaign unattended, and the tick it repeats.

Modules:
  signals   stop signals held from the first instant, so a daemon stopped while starting exits cleanly
  process   the process loop: APScheduler ticks, the HTTP API on the same loop, a clean stop on a signal
  build     a daemon built from the configuration (transports, composer, settings); nothing swapped later
  tick      Daemon: the phases of one tick, each one's store work in the store thread
  thread    the daemon's store thread, keeping database work off the event loop
  presence  the OS lock beside an SQLite store and the heartbeat row
  journeys  the journey phases: the core's decisions carried out in the store
  delivery  claim -> prepare -> send -> record, with a lease taken at claim time and checked at record time
  prepare   consent, pacing and composing for a claimed batch
  experiments  the split steps' winners, picked once their rule holds
  sla       follow-up deadlines that passed without the follow-up: their actions, once
"""
