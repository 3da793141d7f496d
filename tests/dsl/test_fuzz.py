"""Property tests: random valid campaigns survive formatting; random garbage never crashes the loader."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl.campaign import Campaign, load_campaign
from dsl.diagnostics import Diagnostic, render
from dsl.formatter import format_file, format_source, quote
from dsl.parser import parse_source
from dsl.source import SourceFile

HERE = Path(__file__).parent
SEEDS = [HERE / "sample.nurture", *sorted((HERE.parent.parent / "journeys").rglob("*.nurture"))]
SEED_TEXTS = [p.read_text(encoding="utf-8") for p in SEEDS]

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ===== valid campaigns, built from grammar pieces =================================================
# Each strategy yields a list of tokens; `layout` joins them with random spacing, newlines and comments.

# Includes names that look like keywords of other contexts (`email`, `timezone`, `day`, `text`).
NAMES = st.sampled_from(["fit", "engagement", "job_title", "plan", "x", "email", "timezone", "day", "text",
                         "owner_id", "days_left", "url"])
EVENTS = st.sampled_from(["page.viewed", "demo.requested", "email.opened", "a.b_c.d"])
TEMPLATES = st.sampled_from(["welcome", "case_study", "with space", 'q"uote', "back\\slash"])
# Without a newline anywhere, a carriage return ends a line (old Mac files), so texts hold neither.
STRINGS = st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=6)
REGEXES = st.sampled_from([r"/VP|Director/i", r"/\b(a|b)\b/", r"/a\/b/imsx", r"/x/"])
UNITS = st.sampled_from(["minute", "minutes", "hour", "hours", "day", "days", "week", "weeks"])
COMPARE = st.sampled_from([">=", "<=", "!=", ">", "<", "="])
DAYS = st.one_of(st.sampled_from(["weekdays", "weekends", "every day"]),
                 st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1,
                          max_size=4).map(", ".join))
COMMENTS = ["# note", "#", '# "quoted" { } else', "# ünïcode ✓", "#\ttab", "# if a { b }"]


def one(token: str) -> list[str]:
    return [token]


def seq(*parts: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.tuples(*parts).map(lambda chunks: [t for chunk in chunks for t in chunk])


def optional(part: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), part)


def words(text: str) -> st.SearchStrategy[list[str]]:
    return st.just(text.split())


def listed(item: st.SearchStrategy[list[str]], max_size: int = 3) -> st.SearchStrategy[list[str]]:
    def join(items: list[list[str]], trailing: bool) -> list[str]:
        out = ["["]
        for i, tokens in enumerate(items):
            out += tokens + ([","] if i < len(items) - 1 or trailing else [])
        return out + ["]"]
    return st.builds(join, st.lists(item, max_size=max_size), st.booleans())


name, event, regex, compare = NAMES.map(one), EVENTS.map(one), REGEXES.map(one), COMPARE.map(one)
string = STRINGS.map(quote).map(one)
template = TEMPLATES.map(quote).map(one)
integer = st.integers(0, 10**6).map(str).map(one)
number = st.one_of(integer, st.decimals(0, 10**4, places=3).map(str).map(one))
duration = seq(st.integers(0, 400).map(str).map(one), UNITS.map(one))
time = st.builds(lambda h, m: [f"{h}:{m:02d}"], st.integers(0, 23), st.integers(0, 59))
days = seq(words("on"), DAYS.map(one))
scalar = st.one_of(string, number, seq(words("-"), number), words("true"), words("false"),
                   st.dates().map(lambda d: [f"{d.year:04d}-{d.month:02d}-{d.day:02d}"]),
                   st.just(["2026-02-30"]))
value = st.recursive(scalar, lambda inner: listed(inner), max_leaves=4)

filter_atom = st.one_of(
    seq(name, compare, value),
    seq(name, words("in"), listed(value)),
    seq(name, st.sampled_from(["contains", "starts with", "ends with"]).map(str.split), string),
    seq(name, words("matches"), regex),
    seq(name, words("is set")),
)


def event_ref(condition: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    where = st.one_of(filter_atom, seq(words("("), condition, words(")")))
    return seq(event, optional(seq(words("where"), where)))


def atoms(condition: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    window = st.one_of(seq(words("within"), duration), seq(words("since"), name))
    return st.one_of(
        filter_atom,
        seq(name, words("not in"), listed(value)),
        seq(name, words("is missing")),
        seq(words("stage is"), name),
        seq(event_ref(condition), optional(seq(words("at least"), integer, words("times"))), optional(window)),
    )


def _combine(inner: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    group = seq(words("("), inner, words(")"))
    operand = st.one_of(group, atoms(inner))

    def join(items: list[list[str]], op: str) -> list[str]:
        return [t for i, item in enumerate(items) for t in ([op] if i else []) + item]
    return st.one_of(
        group,
        seq(words("not"), operand),
        st.builds(join, st.lists(operand, min_size=2, max_size=3), st.sampled_from(["and", "or"])),
    )


condition = st.deferred(lambda: st.recursive(atoms(st.just(["x", "is", "set"])), _combine, max_leaves=5))
recipient = st.one_of(words("sales"), seq(words("sales"), string), words("owner"))
trigger = st.one_of(seq(words("stage becomes"), name), condition)


def block(header: st.SearchStrategy[list[str]], item: st.SearchStrategy[list[str]],
          max_size: int = 4) -> st.SearchStrategy[list[str]]:
    return st.builds(lambda h, items: h + ["{"] + [t for i in items for t in i] + ["}"],
                     header, st.lists(item, max_size=max_size))


def titled(keyword: str) -> st.SearchStrategy[list[str]]:
    return seq(words(keyword), name, optional(string))


settings_block = block(words("settings"), st.one_of(
    seq(st.sampled_from(["sender name", "sender address", "reply to", "sales address",
                         "default timezone"]).map(str.split), string),
    seq(words("quiet hours"), time, words("to"), time),
    seq(words("max"), integer, st.sampled_from(["email", "emails"]).map(one), words("per"),
        st.sampled_from(["day", "week"]).map(one)),
))
type_ref = st.one_of(st.sampled_from(["text", "number", "bool", "date", "timezone"]).map(one),
                     seq(words("list of"), st.sampled_from(["text", "number"]).map(one)))
attributes_block = block(words("attributes"), seq(name, words(":"), type_ref, optional(seq(words("="), value))))
prop = seq(name, words(":"), type_ref)
events_block = block(words("events"), seq(event, optional(st.builds(
    lambda props, trailing: ["{"] + [t for i, p in enumerate(props) for t in ([","] if i else []) + p]
    + ([","] if trailing and props else []) + ["}"],
    st.lists(prop, max_size=3), st.booleans()))))
points = st.integers(-100, 100).map(lambda p: [f"{p:+d}"])
score_block = block(titled("score"), st.one_of(
    seq(points, words("if"), condition),
    seq(points, words("per"), event_ref(condition), optional(seq(words("max"), integer, words("per"), duration))),
    seq(words("decay"), st.integers(0, 100).map(lambda p: [f"{p}%"]), words("every"), duration),
    seq(words("decay half-life"), duration),
    seq(words("floor"), optional(words("-")), number),
))
stage_block = block(titled("stage"), st.one_of(
    seq(words("when"), condition),
    seq(words("back to"), name, words("when"), condition),
    seq(words("notify"), recipient, words("with"), template),
    seq(words("assign owner round robin"), listed(string)),
    seq(words("assign owner"), string, words("when"), condition),
))


def _steps(step: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    body = st.lists(step, max_size=2).map(lambda steps: ["{"] + [t for s in steps for t in s] + ["}"])
    branch = seq(words("if"), condition, body, optional(st.one_of(
        seq(words("else"), body), seq(words("else"), step))))
    return seq(optional(seq(name, words(":"))), branch)


simple_action = st.one_of(
    seq(words("send"), template, optional(seq(words("at"), time, optional(days)))),
    seq(words("wait"), duration),
    seq(words("wait up to"), duration, words("for"), event_ref(condition)),
    seq(words("wait for"), event_ref(condition)),
    seq(words("wait until"), time, optional(days)),
    seq(words("set"), name, words("="), value),
    seq(words("notify"), recipient, words("with"), template),
)
step = st.recursive(seq(optional(seq(name, words(":"))), simple_action), _steps, max_leaves=4)
journey_block = block(titled("journey"), st.one_of(
    seq(words("enter when"), trigger),
    seq(words("exit when"), trigger),
    seq(words("goal"), trigger),
    seq(words("reentry"), st.one_of(words("never"), words("always"), seq(words("after"), duration))),
    step,
), max_size=6)



def _assignments(items: list[list[str]], commas: list[bool], trailing: bool) -> list[str]:
    """`{ a = 1, b = 2 }`: commas between assignments are optional, a trailing one too."""
    out = ["{"]
    for i, tokens in enumerate(items):
        out += ([","] if i and commas[i % len(commas)] else []) + tokens
    return out + ([","] if trailing and items else []) + ["}"]


assignments = st.builds(_assignments, st.lists(seq(name, words("="), value), max_size=3),
                        st.lists(st.booleans(), min_size=1, max_size=3), st.booleans())
date = st.dates().map(lambda d: [f"{d.year:04d}-{d.month:02d}-{d.day:02d}"])
moment = seq(st.builds(lambda n, unit: [f"{n}{unit}"], st.integers(0, 400), st.sampled_from(["w", "d", "h", "min"])),
             optional(time))
signed = st.one_of(number, seq(words("-"), number))
check = st.one_of(
    seq(words("stage is"), name),
    seq(name, compare, value),
    seq(name, words("between"), signed, words("and"), signed),
    seq(optional(words("not")), words("sent"), template,
        optional(seq(words("in"), name, optional(seq(words("."), name))))),
    seq(words("sales"), optional(words("not")), words("notified with"), template),
    seq(optional(words("not")), words("in journey"), name),
    seq(st.sampled_from(["exited journey", "finished journey", "goal reached in journey"]).map(str.split), name),
)
scenario_block = block(seq(words("scenario"), string), st.one_of(
    seq(words("lead"), string, optional(assignments)),
    seq(words("start"), date, optional(time)),
    seq(words("at"), moment, words(":"), event, optional(assignments)),
    seq(words("expect at"), moment, words(":"), check),
), max_size=6)

campaign_tokens = st.lists(st.one_of(settings_block, attributes_block, events_block, score_block,
                                     stage_block, journey_block, scenario_block), max_size=4).map(
    lambda blocks: [t for b in blocks for t in b])


@st.composite
def campaigns(draw: st.DrawFn) -> str:
    """A valid campaign's text with random spacing, blank lines and comments between tokens."""
    tokens = draw(campaign_tokens)
    rnd = draw(st.randoms(use_true_random=False))
    out = []
    for token in tokens:
        out.append(token)
        roll = rnd.random()
        if roll < 0.6:
            out.append(" ")
        elif roll < 0.8:
            out.append("\n" + " " * rnd.randrange(4))
        elif roll < 0.9:
            out.append("\n\n\n")
        else:
            out.append(rnd.choice(["  ", "\n"]) + rnd.choice(COMMENTS) + "\n")
    return "".join(out)


def parse(text: str):
    return parse_source(SourceFile("fuzz.nurture", text))


def comment_texts(text: str) -> list[str]:
    return [body for _, _, body in parse(text).comments]


@FAST
@given(campaigns())
def test_formatting_is_idempotent_and_keeps_meaning_and_comments(text: str):
    once = format_source(text)
    assert format_source(once) == once
    assert parse(once) == parse(text)
    # A comment inside a statement broken over lines may move after it, so compare as multisets.
    assert sorted(comment_texts(once)) == sorted(comment_texts(text))


@FAST
@given(campaigns())
def test_formatting_the_tree_alone_is_idempotent_and_keeps_meaning(text: str):
    once = format_file(parse(text))
    assert format_file(parse(once)) == once
    assert parse(once) == parse(text)
    assert sorted(comment_texts(once)) == sorted(comment_texts(text))


# ===== garbage in, diagnostics out ================================================================

TOKENS = ["{", "}", "(", ")", "[", "]", ",", ":", "=", ">=", "-", "+5", "50%", "09:00", "2026-02-30", '"', "2d",
          "scenario", "lead", "expect", "sent", "between", "notified", "journey",
          '"x"', "/re/", "#", "\n", "and", "or", "not", "if", "else", "send", "wait", "up to", "for", "until",
          "score", "stage", "journey", "events", "attributes", "settings", "when", "where", "within", "since",
          "at least", "times", "days", "on", "weekdays", "mon", "max", "per", "decay", "floor", "notify",
          "sales", "owner", "with", "set", "enter", "exit", "goal", "reentry", "x.y", "fit", "\x00", "\ufeff"]


def load(data: bytes) -> Campaign:
    """Load one file holding ``data`` as a campaign; everything it reports must render."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.nurture"
        path.write_bytes(data)
        campaign = load_campaign([path], Path(tmp))
        for diag in campaign.diagnostics:
            assert isinstance(diag, Diagnostic)
            assert render(diag, campaign.sources)
    return campaign


def mutate(text: str, rnd: random.Random, edits: int) -> str:
    for _ in range(edits):
        at = rnd.randrange(len(text) + 1)
        kind = rnd.randrange(5)
        if kind == 0:  # delete a few characters
            text = text[:at] + text[at + rnd.randrange(1, 8):]
        elif kind == 1:  # insert a character
            text = text[:at] + chr(rnd.choice([rnd.randrange(32, 127), rnd.randrange(0x80, 0x3000)])) + text[at:]
        elif kind == 2:  # insert a token of the language
            text = text[:at] + f" {rnd.choice(TOKENS)} " + text[at:]
        elif kind == 3:  # replace a word with a token
            end = text.find(" ", at)
            text = text[:at] + rnd.choice(TOKENS) + (text[end:] if end >= 0 else "")
        else:  # duplicate a slice
            end = min(len(text), at + rnd.randrange(1, 40))
            text = text[:end] + text[at:end] + text[end:]
    return text


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_give_diagnostics_not_exceptions(data: bytes):
    campaign = load(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        assert "E002" in {d.code for d in campaign.diagnostics}
        return
    if "\x00" in text:
        assert "E002" in {d.code for d in campaign.diagnostics}


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(range(len(SEED_TEXTS))), st.randoms(use_true_random=False), st.integers(1, 6))
def test_edited_campaigns_give_diagnostics_not_exceptions(seed: int, rnd: random.Random, edits: int):
    text = mutate(SEED_TEXTS[seed], rnd, edits)
    campaign = load(text.encode("utf-8"))
    try:
        parse(text)
    except Exception:
        assert any(d.code.startswith("E0") for d in campaign.diagnostics)
    else:
        # A file that parses is formatted without loss too.
        once = format_source(text)
        assert format_source(once) == once and parse(once) == parse(text)
