"""What a keyword or a name means, as Markdown for an editor's hover."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from dsl import ast as a
from dsl.formatter import text_of
from dsl.navigation import Kind, Reference
from dsl.source import UNKNOWN
from dsl.symbols import BUILTIN_ATTRIBUTES, BUILTIN_EVENTS, FIRST_STAGE
from engine.lsp.analysis import Snapshot

#: What each keyword of the language does, in the words of docs/language.md.
KEYWORDS: dict[str, str] = {
    "settings": "`settings { ... }`: the sender, reply-to and sales addresses, the default timezone, quiet hours "
                "and frequency caps.",
    "attributes": "`attributes { name: type = default }`: what you know about a lead. Types are `text`, `number`, "
                  "`bool`, `date`, `timezone` and `list of <type>`.",
    "events": "`events { page.viewed { url: text } }`: what a lead does. Names are dotted; properties are typed "
              "and optional.",
    "score": "`score name \"Title\" { ... }`: adds up points. `if` rules score who the lead is, `per` rules score "
             "each event.",
    "stage": "`stage name \"Title\" { when ... }`: a rung of the lifecycle ladder, in the order declared above "
             "`lead`. In a condition, `stage is mql` tests the lead's stage.",
    "journey": "`journey name \"Title\" { ... }`: a drip sequence. `enter when` starts it; its steps run in order.",
    "scenario": "`scenario \"what it shows\" { ... }`: a test lead, what it does when, and what should follow; "
                "`nurture test` plays it on a virtual clock.",
    "if": "In a score, `+N if <condition>` gives points for who the lead is (attributes only; never decays). "
          "In a journey, `if <condition> { ... } else { ... }` branches.",
    "per": "`+N per <event>`: points for each event, optionally filtered with `where` and capped with "
           "`max N per <duration>`.",
    "max": "`max N per <duration>`: caps what a rule adds in any rolling window. In `settings`, "
           "`max N emails per day|week` caps email across all journeys. In `accounts`, `max of <score>` is the "
           "highest score among the contacts.",
    "decay": "`decay P% every <duration>` or `decay half-life <duration>`: event points fade over time.",
    "half-life": "`decay half-life <duration>`: event points halve every duration.",
    "floor": "`floor N`: the score never drops below N.",
    "when": "`when <condition>`: promotes a lead to this stage (in a stage), or starts or ends a journey "
            "(`enter when`, `exit when`).",
    "back": "`back to <stage> when <condition>`: moves a lead in this stage down the ladder.",
    "notify": "`notify sales|owner with \"template\"`: sends an alert (`sales` goes to the settings' sales "
              "address, `sales \"addr\"` to that address, `owner` to the lead's owner).",
    "assign": "`assign owner \"addr\" when <condition>` or `assign owner round robin [...]`: picks the lead's "
              "owner on entering the stage; the first matching rule wins.",
    "owner": "The salesperson assigned to a lead: `notify owner`, `assign owner`, and the built-in attribute.",
    "robin": "`assign owner round robin [\"a@...\", \"b@...\"]`: owners take turns.",
    "enter": "`enter when stage becomes <stage>` or `enter when <condition>`: starts the journey.",
    "exit": "`exit when <trigger>`: takes a lead out of the journey early.",
    "goal": "`goal <trigger>`: takes a lead out early and counts as a conversion.",
    "reentry": "`reentry never | always | after <duration>`: whether a lead may go through the journey again.",
    "becomes": "`stage becomes <stage>`: the moment a lead enters that stage.",
    "send": "`send \"template\"` emails `templates/<template>.html`; `at 09:00 on weekdays` waits for that time "
            "in the lead's timezone.",
    "wait": "`wait 2 days`, `wait up to 5 days for <event>`, `wait for <event>` or `wait until 09:00 on tue`: "
            "pauses the journey.",
    "until": "`wait until HH:MM [on days]`: waits for a time of day in the lead's timezone.",
    "set": "`set name = value`: updates an attribute. In a condition, `name is set` tests it has a value.",
    "else": "`else { ... }` or `else if ...`: the steps taken when the `if` condition does not hold.",
    "where": "`<event> where <test>`: filters an event on its properties; several tests go in parentheses.",
    "within": "`<event> within <duration>`: the event happened in that window.",
    "since": "`<event> since <label>`: the event happened after that step ran; only in steps after it.",
    "least": "`<event> at least N times`: counts events.",
    "contains": "`name contains \"text\"`: a text test.",
    "starts": "`name starts with \"text\"`: a text test.",
    "ends": "`name ends with \"text\"`: a text test.",
    "matches": "`name matches /regex/flags`: a regex test (`i` ignores case).",
    "is": "`name is set`, `name is missing` or `stage is <stage>`.",
    "missing": "`name is missing`: the attribute has no value.",
    "in": "`name in [\"a\", \"b\"]` (or `not in`): membership. In a scenario, `in journey <journey>`.",
    "not": "`not <condition>`: negation; binds tighter than `and`, which binds tighter than `or`.",
    "and": "`<condition> and <condition>`: both hold.",
    "or": "`<condition> or <condition>`: either holds.",
    "lead": "The built-in first stage every lead starts in. In a scenario, `lead \"addr\" { ... }` gives the test "
            "lead's email and attributes.",
    "start": "`start 2026-01-05 09:00`: day 0 of a scenario, in the lead's timezone.",
    "at": "`at 09:00 on weekdays`: a send time. In a scenario, `at 2d 10:00: <event>` happens then.",
    "on": "`on weekdays`, `on weekends`, `on every day` or `on mon, wed, fri`.",
    "expect": "`expect at <moment>: <expectation>`: judged once its minute has passed.",
    "sent": "`sent \"template\" [in journey[.step]]`: that email was sent to the lead.",
    "notified": "`sales notified with \"template\"`: sales or the owner was notified with that template.",
    "between": "`score between low and high`: both ends included.",
    "exited": "`exited journey <journey>`: an `exit when` took the lead out.",
    "finished": "`finished journey <journey>`: the lead ran every step.",
    "reached": "`goal reached in journey <journey>`: the lead reached the goal.",
    "quiet": "`quiet hours 20:00 to 08:00`: no email in these hours of the lead's own timezone.",
    "sender": "`sender name \"...\"` and `sender address \"...\"`: who the emails come from.",
    "reply": "`reply to \"...\"`: where replies go.",
    "sales": "`sales address \"...\"` in settings; `notify sales` in stages and journeys.",
    "default": "`default timezone \"Area/City\"`: for leads without a timezone.",
    "weekdays": "Monday to Friday.",
    "weekends": "Saturday and Sunday.",
    "never": "`reentry never`: a lead goes through the journey once.",
    "always": "`reentry always`: a lead may go through the journey again at once.",
    "after": "`reentry after <duration>`: a lead may go through the journey again after that long.",
    "true": "The boolean value true.",
    "false": "The boolean value false.",
    "list": "`list of <type>`: an attribute holding several values, like `[\"a\", \"b\"]`.",
    "text": "The type of quoted text.",
    "number": "The type of numbers, like `42` or `2.5`.",
    "bool": "The type of `true` and `false`.",
    "date": "The type of dates, like `2026-03-01`.",
    "timezone": "The type of IANA timezone names, like `\"Europe/Berlin\"`; send times use it.",
    # split steps (A/B experiments)
    "split": "`split \"name\" { 50% a: send \"x\"  50% b { ... }  goal ... }`: an A/B experiment. Each lead goes "
             "down one arm, by weight, fixed by a hash of the experiment seed, the split's name and its email; "
             "then on to the step after the split.",
    "click": "`goal click within <duration>`: a split's goal is a click on any email its arms sent the lead.",
    "pick": "`pick winner at 95% confidence` or `pick winner on <date>`: the daemon records a winner once, and "
            "later leads all go down its arm.",
    "winner": "`pick winner at N% confidence` (a two-proportion z-test, at least 100 measured leads per arm) or "
              "`pick winner on <date>` (the better rate then).",
    "confidence": "`pick winner at N% confidence`: N from 50 to 99.9.",
    "experiment": "`experiment seed \"...\"` in settings: what assigns leads to split arms (default \"nurture\").",
    "seed": "`experiment seed \"...\"`: changing it reshuffles which arm new leads get.",
    "arm": "In a scenario, `arm <split> is <arm>`: the lead went down that arm of the split.",
    # subscription topics
    "topics": "`topics { events \"Events and webinars\" }`: what a lead may leave one by one on its preference "
              "page; an email with no topic is stopped only by the global unsubscribe.",
    "topic": "`topic <name>` first in a journey: every email it sends belongs to that topic. "
             "`send \"template\" topic <name>` gives one email its own topic.",
    "unsubscribe": "`unsubscribe leaves topic | everything` in `settings`: what an email's unsubscribe link and "
                   "one-click header leave (default: everything).",
    "unsubscribed": "`at 2d: unsubscribed from <topic>` in a scenario: the lead leaves that topic.",
    # follow-up SLAs
    "follow": "`follow up within 4 business hours by sales.contacted { ... }`: in a stage, the deadline for sales "
              "to follow up a lead that enters it; when it passes without the event, the block's actions run once.",
    "business": "`business hours 09:00 to 17:00 on weekdays` (settings): the working time `within N business "
                "hours` counts, in the owner's timezone.",
    "reassign": "`reassign round robin [...]`: a missed follow-up hands the lead to the next owner on the list.",
    "sla": "`expect at 5h: sla sql open|met|breached`: the follow-up of the lead's latest entry into a stage.",
    # accounts
    "accounts": "`accounts { by <attribute> | by email domain; free mail [...]; score NAME = ... }`: groups leads "
                "into companies by domain and rolls their scores up; `account.NAME` reads a value in stages and "
                "account alerts.",
    "account": "`account alert NAME when <condition> { notify ... }`: tells sales once when an account starts to "
               "hold the condition. In a condition, `account.NAME >= N` reads a value of the lead's account.",
    "alert": "`account alert NAME when <condition> { notify ... }`: fires once when the condition starts to hold "
             "for an account, again only after it stopped.",
    "by": "In `accounts`, `by <text attribute>` or `by email domain`: what names a lead's company. In a scenario, "
          "`at 1d: <event> by \"addr\"`: which lead does the event.",
    "free": "`free mail [\"...\"]`: more free mail domains, whose leads belong to no account.",
    "sum": "`sum of <score>`: an account value, the contacts' scores added up.",
    "min": "`min of <score>`: an account value, the lowest score among the contacts.",
    "count": "`count [active within <duration>] [where <condition>]`: an account value, how many contacts "
             "(active in that window, passing that test on their attributes, scores and stage).",
    "active": "`count active within <duration>`: only contacts that did something (any event) in that window.",
}

_SUBJECT = re.compile(r"{%-?\s*block\s+subject\s*-?%}(.*?){%-?\s*endblock", re.DOTALL)


def keyword_hover(word: str) -> str | None:
    text = KEYWORDS.get(word)
    return f"**{word}** (keyword)\n\n{text}" if text else None


def name_hover(ref: Reference, snap: Snapshot) -> str | None:
    """What the name ``ref`` refers to, with where it is declared, or None for an unknown name."""
    name = ref.name
    kind = ref.kind
    if kind is Kind.FIELD:
        kind = Kind.SCORE if name in snap.symbols.scores else Kind.ATTRIBUTE
    match kind:
        case Kind.EVENT:
            return _event(name, snap)
        case Kind.PROPERTY:
            props = snap.symbols.events.get(ref.scope or "", {})
            if name not in props:
                return None
            return f"**{name}**: {text_of(props[name])}, a property of the event `{ref.scope}`"
        case Kind.ATTRIBUTE:
            return _attribute(name, snap)
        case Kind.SCORE:
            return _score(snap.symbols.scores.get(name))
        case Kind.STAGE:
            return _stage(name, snap)
        case Kind.JOURNEY:
            journey = snap.symbols.journeys.get(name)
            if journey is None:
                return None
            return _titled("journey", name, journey.title) + _lines(i for i in journey.items
                                                                      if not isinstance(i, a.Step))
        case Kind.STEP:
            return _step(ref, snap)
        case Kind.TEMPLATE:
            return _template(name, snap)
    return None


def _titled(what: str, name: str, title: str | None) -> str:
    return f"**{name}** ({what})" + (f": {title}" if title else "")


def _lines(nodes: Iterable[a.Node]) -> str:
    texts = [text_of(node) for node in nodes]
    return "\n\n```nurture\n" + "\n".join(texts) + "\n```" if texts else ""


def _where(snap: Snapshot, ref: Reference) -> str:
    span = snap.declared.get((ref.kind, ref.scope, ref.name))
    if span is None:
        return ""
    try:
        shown = Path(span.path).relative_to(snap.root.parent)
    except ValueError:
        shown = Path(span.path)
    return f"\n\ndeclared in `{shown.as_posix()}:{span.line}`"


def _event(name: str, snap: Snapshot) -> str | None:
    if name not in snap.symbols.events:
        return None
    props = snap.symbols.events[name]
    listed = ", ".join(f"`{p}`: {text_of(t)}" for p, t in props.items()) or "none"
    origin = "recorded by the engine itself" if name in BUILTIN_EVENTS else "an event"
    return f"**{name}** ({origin})\n\nproperties: {listed}" + _where(snap, Reference(Kind.EVENT, name, UNKNOWN))


def _step(ref: Reference, snap: Snapshot) -> str | None:
    span = snap.declared.get((Kind.STEP, ref.scope, ref.name))
    if span is None:
        return None
    source = snap.sources.get(span.path)
    line = source.line(span.line).strip() if source is not None else ""
    shown = f"\n\n```nurture\n{line}\n```" if line else ""
    return f"**{ref.name}** (step of the journey `{ref.scope}`)" + shown + _where(snap, ref)


def _attribute(name: str, snap: Snapshot) -> str | None:
    type_ = snap.symbols.attributes.get(name)
    if type_ is None:
        return None
    text = f"**{name}** (attribute): {text_of(type_)}"
    if name in BUILTIN_ATTRIBUTES:
        return text + ", every lead has it"
    if name in snap.symbols.defaults:
        text += f", {_default(snap.symbols.defaults[name])} when not given"
    return text + _where(snap, Reference(Kind.ATTRIBUTE, name, UNKNOWN))


def _default(value: object) -> str:
    return f"`{value!r}`" if not isinstance(value, str) else f'`"{value}"`'


def _score(score: a.Score | None) -> str | None:
    if score is None:
        return None
    return _titled("score", str(score.name), score.title) + _lines(score.items)


def _stage(name: str, snap: Snapshot) -> str | None:
    if name == FIRST_STAGE:
        return f"**{name}** (stage): the built-in first stage every lead starts in"
    stage = snap.symbols.stage_nodes.get(name)
    if stage is None:
        return None
    rank = snap.symbols.stage_rank(name)
    return _titled("stage", name, stage.title) + f", rung {rank} of the ladder" + _lines(stage.items)


def _template(name: str, snap: Snapshot) -> str | None:
    path = snap.template_file(name)
    if path is None:
        return None
    text = f"**{name}** (template): `{path.relative_to(snap.template_dir.parent).as_posix()}`"
    subject = _SUBJECT.search(path.read_text(encoding="utf-8", errors="replace"))
    if subject:
        text += f"\n\nsubject: {' '.join(subject.group(1).split())}"
    return text
