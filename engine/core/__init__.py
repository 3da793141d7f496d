"""Pure decisions on plain values, with time passed in; no store, no network, no event loop.

Modules:
  clock         the Clock protocol, the system and virtual clocks, epoch conversions
  rules         compiles a checked campaign into Rules (score models, event atoms, stage machine, journey plans)
  conditions    DSL conditions compiled into Python functions
  scoring       score models and a lead's scoring state: points, caps per rolling window, decay, rounding
  stages        the stage machine: demotions first, then the highest promotion; owner assignment
  evaluator     events and time applied to one lead: ledger lines, stage moves, actions, next review
  journey_plan  a journey as labelled, typed steps with explicit jumps
  journeys      journey decisions: enter, exit, goal, wake, advance -> effects for the caller to carry out
  migration     moving an in-flight enrolment to a new campaign version by step label
  addresses     email addresses checked and normalised as leads are keyed by
  schedule      send windows, quiet hours and frequency caps in the lead's own timezone
  experiments   split steps: which arm a lead goes down, how the arms compare, when a winner is picked
  accounts      which account a lead belongs to, values rolled up from its contacts, alerts that start to hold;
                account_rules compiles the `accounts` block and account alerts
  sla           follow-up deadlines in business hours and a follow-up's state; sla_plan compiles them
"""
