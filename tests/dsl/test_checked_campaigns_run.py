"""Property: a campaign `nurture check` accepts compiles into runtime rules and scores events without raising.

The campaigns are built from the grammar's constructs over one set of declared names, so most of them check
clean; those that do not are discarded. Every condition may appear anywhere (a score's `if` rule included),
with durations, counts and numbers from tiny to absurd, so whatever `check` lets through is put to the engine.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dsl.campaign import Campaign, load_campaign
from dsl.formatter import quote
from engine.core.evaluator import Evaluator, LeadRecord
from engine.core.rules import compile_rules
from engine.core.scoring import LeadState
from tests.dsl.test_fuzz import block, listed, one, optional, seq, words

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
#: Campaigns `check` rejects are discarded, a good share of them by design.
RUNS = settings(max_examples=20, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

PRELUDE = """
attributes {
  job_title: text
  country: text = "US"
  company_size: number = 0
  trial: bool
  renewal: date
  interests: list of text = []
  first_name: text
  last_name: text
  company: text
  industry: text
  lead_source: text
  timezone: timezone
}
events {
  page.viewed { url: text, seconds: number }
  demo.requested
}
"""
SCORES = ["fit", "engagement"]
EVENT_PROPS = {"page.viewed": ("url", "seconds"), "demo.requested": ()}

# Numbers from the ordinary to the absurd: bounds are the checker's to enforce.
small = st.integers(1, 60)
amount = st.one_of(*[small] * 9, st.integers(0, 10**25)).map(str).map(one)
threshold = st.integers(-20, 60).map(lambda n: [str(n)] if n >= 0 else ["-", str(-n)])
text = st.sampled_from(["VP", "Director", "/pricing", "US", "de", ""]).map(quote).map(one)
duration = seq(amount, st.sampled_from(["minutes", "hours", "days", "weeks"]).map(one))
compare = st.sampled_from([">=", "<=", "!=", ">", "<", "="]).map(one)

lead_test = st.one_of(
    seq(words("job_title"), st.sampled_from(["contains", "starts with", "ends with", "="]).map(str.split), text),
    seq(words("job_title matches"), st.sampled_from([r"/VP|Director/i", r"/^(a|b)+$/", r"/x/"]).map(one)),
    seq(st.sampled_from(["country", "job_title"]).map(one), optional(words("not")), words("in"), listed(text)),
    seq(words("company_size"), compare, threshold),
    seq(words("trial ="), st.sampled_from(["true", "false"]).map(one)),
    seq(words("renewal"), compare, st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)).map(str).map(one)),
    seq(words("interests contains"), text),
    seq(st.sampled_from(["job_title", "renewal", "interests"]).map(one),
        st.sampled_from(["is set", "is missing"]).map(str.split)),
)
prop_test = st.one_of(
    seq(words("url"), st.sampled_from(["contains", "starts with", "="]).map(str.split), text),
    seq(words("seconds"), compare, threshold),
)


def event_ref() -> st.SearchStrategy[list[str]]:
    viewed = seq(words("page.viewed"), optional(seq(words("where"), prop_test)))
    return st.one_of(viewed, words("demo.requested"))


happened = seq(event_ref(), optional(seq(words("at least"), amount, words("times"))),
               optional(seq(words("within"), duration)))
atom = st.one_of(
    lead_test,
    seq(st.sampled_from(SCORES).map(one), compare, threshold),
    seq(words("stage is"), st.sampled_from(["lead", "mql", "sql"]).map(one)),
    happened,
)


def _join(items: list[list[str]], op: str) -> list[str]:
    return [t for i, item in enumerate(items) for t in ([op] if i else []) + item]


def conditions(atom: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.recursive(atom, lambda inner: st.one_of(
        seq(words("("), inner, words(")")),
        seq(words("not ("), inner, words(")")),
        st.builds(_join, st.lists(inner, min_size=2, max_size=3), st.sampled_from(["and", "or"])),
    ), max_leaves=4)


condition = conditions(atom)
lead_condition = conditions(lead_test)

few = st.integers(1, 50)
points = st.one_of(*[few] * 9, st.integers(1, 10**20)).flatmap(
    lambda p: st.sampled_from([p, p, -p])).map(lambda p: [f"{p:+d}"])
score_rules = st.lists(st.one_of(
    seq(points, words("if"), st.one_of(lead_condition, lead_condition, condition)),
    seq(points, words("per"), event_ref(), optional(seq(words("max"), amount, words("per"), duration))),
), min_size=1, max_size=4).map(lambda rules: [t for rule in rules for t in rule])
decay = st.one_of(
    seq(words("decay"), st.one_of(*[st.integers(1, 99)] * 5, st.integers(0, 150)).map(lambda p: [f"{p}%"]),
        words("every"), duration),
    seq(words("decay half-life"), duration),
)
stage_items = st.one_of(
    seq(words("notify sales with"), st.just(['"sql_alert"'])),
    seq(words('assign owner "ana@acme.example" when'), condition),
)
step = st.one_of(
    words('send "welcome"'),
    seq(words("wait"), duration),
    seq(words("wait up to"), duration, words("for"), event_ref()),
    seq(words("if"), condition, words('{ send "case_study" }')),
    words('set country = "DE"'),
)
journey = block(words("journey welcome"), st.one_of(
    seq(words("enter when"), st.one_of(words("stage becomes mql"), condition)),
    seq(words("exit when"), condition),
    seq(words("reentry after"), duration),
    step,
), max_size=5)


@st.composite
def campaigns(draw: st.DrawFn) -> str:
    floor = optional(seq(words("floor"), threshold))
    scores = [draw(seq(words(f"score {name} {{"), score_rules, optional(decay), floor, words("}"))) for name in SCORES]
    stages = [draw(seq(words(f"stage {name} {{ when"), condition, st.lists(stage_items, max_size=2).map(
        lambda items: [t for item in items for t in item]), words("}"))) for name in ("mql", "sql")]
    return PRELUDE + "\n".join(" ".join(tokens) for tokens in [*scores, *stages, draw(journey)])


lead_attributes = st.fixed_dictionaries({}, optional={
    "job_title": st.sampled_from(["VP Sales", "Intern", "", "director"]),
    "country": st.sampled_from(["US", "de", None]),
    "company_size": st.one_of(st.integers(-5, 10**6), st.sampled_from(["120", "many", None])),
    "trial": st.booleans(),
    "renewal": st.one_of(st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)).map(str), st.just("soon")),
    "interests": st.lists(st.sampled_from(["pricing", "US", "VP"]), max_size=2),
})
events = st.lists(st.tuples(
    st.sampled_from(sorted(EVENT_PROPS)),
    st.fixed_dictionaries({}, optional={"url": st.sampled_from(["/pricing", "/blog"]), "seconds": st.integers(0, 999)}),
    st.floats(0, 90 * 86400),
), max_size=6)


def checked(text: str, tmp: Path) -> Campaign:
    path = tmp / "campaign.nurture"
    path.write_text(text, encoding="utf-8")
    return load_campaign([path], TEMPLATES)


@RUNS
@given(campaigns(), lead_attributes, events)
def test_a_campaign_check_accepts_compiles_and_scores_events(tmp_path_factory, text: str, attributes: dict,
                                                             happenings: list[tuple[str, dict, float]]):
    campaign = checked(text, tmp_path_factory.mktemp("run"))
    assume(not campaign.has_errors)
    rules = compile_rules(campaign)
    evaluator = Evaluator(rules, None, lambda stage: 0)
    start = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC).timestamp()
    lead = LeadRecord(1, "ann@acme.example", attributes, "lead", start, None, LeadState())
    evaluator.refresh_fit(lead)
    evaluator.evaluate(lead, start)
    for n, (etype, props, offset) in enumerate(sorted(happenings, key=lambda h: h[2])):
        at = start + offset
        evaluator.advance(lead, at)
        evaluator.apply_event(lead, etype, {k: v for k, v in props.items() if k in EVENT_PROPS[etype]}, at, f"e{n}")
        evaluator.evaluate(lead, at)
    evaluator.advance(lead, start + 365 * 86400)
    assert lead.stage in rules.stages.by_name
    for model in rules.scores.values():
        lead.state.score(model, start + 400 * 86400)
