"""Everything on a virtual clock: the same core, store and daemon code, with a virtual clock and memory transport.

Modules:
  virtual       VirtualRun: a campaign, a store and a clock; ticks the real daemon code through time
  scenarios     `nurture test`: collecting and playing a campaign's scenarios, in parallel; play: one being played
  expectations  judging a scenario's expectations; timeline: what led to a failure
  sla_expect, account_expectations  judging `sla` and `account.NAME` expectations
  topics        a scenario lead leaving subscription topics at its time
  simulate      `nurture simulate`: synthetic leads through the campaign; watch: its invariants over every lead
  backtest      `nurture backtest`: real history replayed through two versions side by side
  history       an events file read in time order (as of a time), and scored as the engine scores it
  outcomes      the outcomes file: which leads converted, and when
  tune          `nurture tune`: rule points fitted to outcomes (numpy, scikit-learn); tune_write: the diff, --write
  demo          `nurture demo`; capture: the local SMTP server that keeps the demo's emails
  synthetic     deterministic synthetic leads and engagement; stats: lift, precision, recall, AUC
  report_html   self-contained HTML reports
"""
