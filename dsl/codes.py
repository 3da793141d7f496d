"""Stable diagnostic codes and their title templates. Codes never change meaning once released.

E0xx files and syntax, E1xx unknown names, E2xx duplicates, E3xx types and values,
E4xx logic and scenarios, W0xx-W1xx warnings (likely mistakes that still run).
"""

from __future__ import annotations

CODES: dict[str, str] = {
    # files and syntax
    "E001": "{message}",
    "E002": "file is not UTF-8 text",
    "E003": "file is too large ({size} bytes; the limit is {limit})",
    "E004": "cannot read `{path}`: {reason}",
    # unknown names
    "E101": "unknown event `{name}`",
    "E102": "unknown attribute or score `{name}`",
    "E103": "unknown score `{name}`",
    "E104": "unknown stage `{name}`",
    "E105": "unknown template `{name}`",
    "E106": "unknown step `{name}` in journey `{journey}`",
    "E107": "event `{event}` has no property `{name}`",
    "E108": "unknown journey `{name}`",
    "E120": "unknown topic `{name}`",
    # duplicates
    "E201": "{what} `{name}` is defined more than once",
    "E202": "step label `{name}` is used twice in journey `{journey}`",
    "E220": "journey `{journey}` names its topic more than once",
    # types and values
    "E301": "`{name}` is {expected}, but is compared with {found}",
    "E302": "`{op}` does not apply to `{name}`, which is {type}",
    "E303": "regex does not compile: {reason}",
    "E304": "invalid {what}: {reason}",
    "E305": "template `{template}` uses `{variable}`, which a lead does not have",
    "E306": "template `{template}` has a syntax error: {reason}",
    "E307": "`{name}` is {expected}, but is given {found}",
    "E308": "template `{template}` refers to `{name}`, which does not exist",
    "E309": "template `{template}` is sent to leads, but has no unsubscribe link",
    "E310": "template `{template}` can never render: {reason}",
    "E311": "`{name}` is {what}, and only scores add up",
    "E312": "points per unit count a number, and `{name}` of `{event}` is {type}",
    # logic
    "E401": "step can never run",
    "E402": "condition can never hold",
    "E403": "`since {name}` refers to a step that has not run at this point",
    "E404": "stage `{name}` cannot be reached",
    "E405": "`since {name}` is used where no journey step has run",
    "E406": "an event filter can only test properties of `{event}`",
    "E407": "`back to {target}` must name a stage below `{name}`",
    "E408": "score `{name}` depends on itself",
    "E414": "a score's `if` rule can only test the lead's attributes",
    "E415": "an invariant can only test the lead as it is: its attributes, scores and stage",
    # follow-up SLAs
    "E416": "a follow-up in business hours needs `business hours` in `settings`",
    "E417": "stage `{name}` has no follow-up SLA",
    # scenarios
    "E409": "`at {when}` is earlier than {previous}",
    "E410": "expected at `{when}`, before {needs} happens",
    "E411": "the campaign never {verb} `{template}`",
    "E412": "`{source}` never sends `{template}`",
    "E413": "scenario `{name}` has no lead",
    # split steps (A/B experiments)
    "E430": "the arms of split `{name}` share out {total}% of the leads, not 100%",
    "E431": "split `{name}` has {count} arm{s}: an experiment needs at least two",
    "E432": "split `{name}` has no goal",
    "E433": "split `{name}` has more than one {what}",
    "E434": "`goal click` in split `{name}` counts clicks on its emails, and no arm sends one",
    "E435": "unknown split `{name}`",
    "E436": "split `{split}` has no arm `{name}`",
    # accounts
    "E501": "`{name}` is not an account value",
    "E502": "`{name}` cannot be read here: account values are read by stages and account alerts",
    "E503": "`by {name}` must name a text attribute",
    "E504": "a count tests each contact as it is: its attributes, scores and stage",
    "E506": "`by \"{email}\"` names no lead of this scenario",
    "E507": "an account alert can only compare account values",
    # warnings
    "W001": "file is empty",
    "W101": "`wait for` has no timeout: leads who never do `{event}` wait for ever",
    "W102": "journey `{name}` can never be entered",
    "W103": "score `{name}` is never used by a stage, journey or condition",
    "W104": "journey `{name}` has no steps",
    "W105": "scenario `{name}` expects nothing",
    "W106": "regex may take exponential time on text it almost matches",
    "W107": "template `{template}` shows `{variable}`, which a lead may not have",
    "W108": "{value} is listed twice as a placeholder of `{name}`",
    "W109": "`{name}` is {expected}: a placeholder that is {found} never matches",
}
