"""`nurture backtest` on a generated history with planted signal: it finds the rules that carry it."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.errors import ConfigError
from engine.lab.backtest import Version, campaign_at, read_outcomes, run_backtest
from engine.lab.outcomes import Outcome

ROOT = Path(__file__).resolve().parents[2]
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
ROI_RULE = '+20 per content.downloaded where asset = "roi-guide"'
MQL_RULE = "when fit >= 25 and engagement >= 40"


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_history(folder: Path, leads: int = 160, days: int = 21, seed: int = 5) -> tuple[Path, Path, Path]:
    """Leads, events and outcomes where downloading the ROI guide is what predicts buying.

    A third of the leads download the ROI guide; 60% of them buy, against 5% of everyone else. Page
    views and other downloads are spread evenly, so they carry no signal.
    """
    rng = random.Random(seed)
    titles = ["VP Marketing", "Data Analyst", "Head of Data", "Engineer", "Marketing Manager"]
    events, outcomes = [], []
    with (folder / "leads.csv").open("w") as f:
        f.write("email,first_name,job_title,company_size,industry,country\n")
        for i in range(leads):
            f.write(f"lead{i}@co{i % 7}.example,Lead{i},{rng.choice(titles)},{rng.choice([40, 300, 900])},"
                    f"Software,{rng.choice(['US', 'DE', 'FR'])}\n")
    for i in range(leads):
        email = f"lead{i}@co{i % 7}.example"
        for _ in range(rng.randint(0, 6)):
            at = START + dt.timedelta(hours=rng.uniform(0, days * 24))
            url = rng.choice(["/blog", "/docs", "/features", "/pricing", "/customers"])
            events.append({"lead": email, "type": "page.viewed", "at": at, "props": {"url": url}})
        if rng.random() < 0.3:
            at = START + dt.timedelta(hours=rng.uniform(0, (days - 4) * 24))
            events.append({"lead": email, "type": "content.downloaded", "at": at, "props": {"asset": "checklist"}})
        buys = 0.05
        if rng.random() < 1 / 3:
            at = START + dt.timedelta(hours=rng.uniform(0, (days - 4) * 24))
            events.append({"lead": email, "type": "content.downloaded", "at": at, "props": {"asset": "roi-guide"}})
            buys = 0.6
        if rng.random() < buys:
            outcomes.append((email, START + dt.timedelta(days=days - 2)))
    events.sort(key=lambda e: e["at"])
    with (folder / "events.jsonl").open("w") as f:
        for n, e in enumerate(events):
            f.write(json.dumps({"id": f"e{n}", **e, "at": _stamp(e["at"])}) + "\n")
    with (folder / "outcomes.csv").open("w") as f:
        f.write("email,converted_at\n")
        f.writelines(f"{email},{_stamp(when)}\n" for email, when in outcomes)
    return folder / "leads.csv", folder / "events.jsonl", folder / "outcomes.csv"


def copy_campaign(target: Path, roi_rule: bool = True, mql: str = MQL_RULE) -> Path:
    """The example campaign, with a rule for the ROI guide and the MQL rule given."""
    shutil.copytree(ROOT / "journeys", target / "journeys", ignore=shutil.ignore_patterns("tests"))
    shutil.copytree(ROOT / "templates", target / "templates")
    scoring = target / "journeys" / "scoring.nurture"
    text = scoring.read_text()
    if roi_rule:
        text = text.replace("  +10 per content.downloaded max 30 per 30 days\n",
                            f"  +10 per content.downloaded max 30 per 30 days\n  {ROI_RULE}\n")
        assert ROI_RULE in text
    scoring.write_text(text)
    stages = target / "journeys" / "stages.nurture"
    assert MQL_RULE in stages.read_text()
    stages.write_text(stages.read_text().replace(MQL_RULE, mql))
    return target


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[Path, Path, Path]:
    return write_history(tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="module")
def campaign(tmp_path_factory) -> Path:
    return copy_campaign(tmp_path_factory.mktemp("campaign"))


def test_planted_signal_is_found(history, campaign, tmp_path):
    leads, events, outcomes = history
    other = copy_campaign(tmp_path / "looser", mql="when fit >= 25 and engagement >= 15")
    result = run_backtest(campaign_dir=campaign / "journeys", template_dir=campaign / "templates",
                          events=str(events), leads=str(leads), outcomes=outcomes, against=str(other))
    data = result.as_dict()
    current, looser = data["versions"]
    assert current["events_accepted"] == looser["events_accepted"] == data["events"]
    assert current["leads"] == 160

    evidence = current["evidence"]
    assert 0 < evidence["converted"] < evidence["leads"] == 160
    supported = [r for r in evidence["rules"] if r["fired"] >= 15 and r["lift"] is not None]
    assert supported[0]["rule"] == ROI_RULE, supported[:3]
    assert supported[0]["lift"] > 2
    views = next(r for r in evidence["rules"] if r["rule"] == "+1 per page.viewed max 10 per 1 day")
    assert 0.6 < views["lift"] < 1.4  # viewing pages says nothing here
    models = {m["score"]: m["auc"] for m in evidence["models"]}
    assert models["engagement"] > 0.7
    assert models["engagement"] > models["fit"] + 0.1
    # the stages read fit and engagement: their sum is judged too, and it ranks leads unlike either alone
    summed = next(m for m in evidence["models"] if m.get("sum_of"))
    assert summed["sum_of"] == ["fit", "engagement"] and summed["score"] == "fit + engagement"
    assert summed["auc"] not in (models["fit"], models["engagement"]) and 0.5 < summed["auc"] <= 1
    stages = {s["stage"]: s for s in evidence["stages"]}
    assert stages["mql"]["precision"] is None or 0 <= stages["mql"]["precision"] <= 1

    # a lower MQL bar: more MQLs, and the leads that move are listed
    assert looser["entered"]["mql"] > current["entered"]["mql"]
    assert data["final_stage_changed"] > 0
    assert any(t["from"] == "lead" and t["to"] == "mql" for t in data["transitions"])
    assert data["changed_examples"][0]["lead"].endswith(".example")
    # journeys ran: the welcome journey mailed new MQLs, and more of them with the lower bar
    sends = {(s["journey"], s["step"]): s["sent"] for s in looser["sends_by_step"]}
    assert sends[("welcome", "intro")] > 0
    assert sum(s["sent"] for s in looser["sends_by_step"]) > sum(s["sent"] for s in current["sends_by_step"])

    # the two versions replayed in processes of their own: the current one alone, in this process, is the same
    alone = run_backtest(campaign_dir=campaign / "journeys", template_dir=campaign / "templates",
                         events=str(events), leads=str(leads), outcomes=outcomes).as_dict()
    assert alone["versions"] == [current] and alone["quarantine"] == data["quarantine"]


def test_cli_prints_side_by_side_and_writes_html(history, campaign, tmp_path):
    leads, events, outcomes = history
    report = tmp_path / "backtest.html"
    env = {"NURTURE_CAMPAIGN_DIR": str(campaign / "journeys"), "NURTURE_TEMPLATE_DIR": str(campaign / "templates"),
           "COLUMNS": "220"}
    result = CliRunner().invoke(app, ["backtest", "--events", str(events), "--leads", str(leads), "--outcomes",
                                      str(outcomes), "--against", str(campaign), "--html", str(report)], env=env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for heading in ("What each version produces", "Every lead ends in the same stage", "Scoring rules by lift",
                    "Stages against the outcomes", "AUC"):
        assert heading in out, out
    assert ROI_RULE in out
    page = report.read_text()
    assert page.count("<svg") >= 4 and "<script" not in page and "ROC curves" in page


def test_against_a_git_revision(tmp_path):
    repo = tmp_path / "repo"
    copy_campaign(repo, roi_rule=False)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "first"], cwd=repo, check=True)
    stages = repo / "journeys" / "stages.nurture"
    stages.write_text(stages.read_text().replace(MQL_RULE, "when fit >= 25 and engagement >= 15"))
    current = Version("current", repo / "journeys", repo / "templates")
    old = campaign_at("HEAD", current, tmp_path / "work")
    assert MQL_RULE in (old.campaign_dir / "stages.nurture").read_text()  # the committed version, not the edit
    assert (old.template_dir / "welcome.html").is_file()
    with pytest.raises(ConfigError, match="neither a directory nor a revision"):
        campaign_at("no-such-branch", current, tmp_path / "work2")


def test_outcomes_file_problems(tmp_path):
    good = tmp_path / "outcomes.csv"
    good.write_text("a@x.example\nB@X.example,2026-02-01\nnot-an-email,2026-02-01\nc@x.example,yesterday\n")
    outcomes = read_outcomes(good)
    assert set(outcomes.by_email) == {"a@x.example", "b@x.example"}
    assert outcomes.by_email["a@x.example"] == Outcome(True, None)
    assert outcomes.by_email["b@x.example"].converted_at == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert [p.split(": ")[0] for p in outcomes.problems] == [f"{good}:3:1", f"{good}:4:13"]
    empty = tmp_path / "empty.csv"
    empty.write_text("email,converted_at\n")
    with pytest.raises(ConfigError, match="names no leads"):
        read_outcomes(empty)
    lost = tmp_path / "lost.csv"
    lost.write_text("email,converted\na@x.example,no\n")
    with pytest.raises(ConfigError, match="no converted leads"):
        read_outcomes(lost)


def test_outcomes_with_a_header_name_the_lost_leads_too(tmp_path):
    path = tmp_path / "outcomes.csv"
    path.write_text("\ufeffConverted_At,email,converted\n2026-02-01T10:00:00Z,a@x.example,yes\n,b@x.example,false\n"
                    '2026-03-01,"c@x.example",0\n')
    outcomes = read_outcomes(path)
    assert outcomes.problems == []
    assert outcomes.by_email == {"a@x.example": Outcome(True, dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC)),
                                 "b@x.example": Outcome(False, None),
                                 "c@x.example": Outcome(False, dt.datetime(2026, 3, 1, tzinfo=dt.UTC))}
    end = dt.datetime(2026, 2, 15, tzinfo=dt.UTC)
    # judged just before a dated outcome, else at the end; as of a time, a later conversion had not happened
    assert outcomes.by_email["a@x.example"].judged(end) == (True, dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC))
    assert outcomes.by_email["c@x.example"].judged(end) == (False, end)
    early = dt.datetime(2026, 1, 20, tzinfo=dt.UTC)
    assert outcomes.by_email["a@x.example"].judged(early) == (True, early)
    assert outcomes.by_email["a@x.example"].judged(early, as_of=True) == (False, early)


def test_at_reproduces_a_figure_after_the_history_has_grown(history, campaign, tmp_path):
    leads, events, outcomes = history
    at = START + dt.timedelta(days=20, hours=6)  # after the conversions (day 19), before the last events
    lines = events.read_text().splitlines()
    earlier = tmp_path / "earlier.jsonl"
    earlier.write_text("".join(f"{line}\n" for line in lines if json.loads(line)["at"] <= _stamp(at)))
    env = {"NURTURE_CAMPAIGN_DIR": str(campaign / "journeys"), "NURTURE_TEMPLATE_DIR": str(campaign / "templates")}
    runs = []
    for path in (events, earlier):
        result = CliRunner().invoke(app, ["backtest", "--events", str(path), "--leads", str(leads), "--outcomes",
                                          str(outcomes), "--at", _stamp(at), "--json"], env=env)
        assert result.exit_code == 0, result.output
        runs.append(json.loads(result.stdout))
    grown, then = runs
    assert grown["events"] == then["events"] == len(earlier.read_text().splitlines()) < len(lines)
    assert grown["at"] == then["at"] == at.isoformat()
    evidence = then["versions"][0]["evidence"]
    assert grown["versions"][0]["evidence"] == evidence
    assert evidence["converted"] > 0 and all(m["auc"] is not None for m in evidence["models"])
    assert evidence["at"] == at.isoformat()
    # a day earlier than the conversions, none of them had happened yet
    result = CliRunner().invoke(app, ["backtest", "--events", str(events), "--leads", str(leads), "--outcomes",
                                      str(outcomes), "--at", "2026-01-23", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["versions"][0]["evidence"]["converted"] == 0
