"""An email as it would be sent: a template rendered for a lead (or a sample lead) through the same composer
the daemon uses, with its headers, HTML and text; and a test send of it over the configured SMTP server.

Its tracking and unsubscribe links are signed with a throwaway key, so they never verify: looking at a
preview, or opening a test email, records no open or click for the lead and unsubscribes nobody."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import secrets
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from dsl import ast as a
from engine.core.journeys import LeadView
from engine.core.rules import Rules
from engine.delivery.compose import Composer, PlainDraft
from engine.delivery.context import email_context
from engine.http.context import AppContext

#: the lead a template is shown for when none is chosen
SAMPLE: dict[str, Any] = {"email": "sample.lead@example.com", "first_name": "Sam", "last_name": "Sample",
                          "company": "Example Corp", "job_title": "Head of Analytics", "company_size": 250}


@dataclass
class Preview:
    template: str
    lead: str
    kind: str
    headers: list[tuple[str, str]]
    html: str | None
    text: str | None
    data: bytes
    sender: str


def campaign_templates(ctx: AppContext) -> list[str]:
    """The templates of the applied version a preview can show: ``welcome`` for ``templates/welcome.html``."""
    version_id, _ = ctx.rules()
    with ctx.store.transaction() as tx:
        files = tx.reports.campaign_files(version_id)
    return sorted({path[len("templates/"):].rsplit(".", 1)[0] for path in files
                   if path.startswith("templates/") and not path[len("templates/"):].startswith("_")})


def sales_templates(rules: Rules) -> set[str]:
    """Templates the campaign sends to sales (stage and journey notifications), not to the lead."""
    found: set[str] = set()
    for node in (*rules.symbols.stage_nodes.values(), *rules.symbols.journeys.values()):
        for child in node.walk():
            if isinstance(child, a.Notify | a.NotifyAction):
                found.add(str(child.template))
    return found


def _lead_view(ctx: AppContext, rules: Rules, email_address: str | None, now: dt.datetime) -> tuple[LeadView, Any]:
    if not email_address:
        attributes = {k: v for k, v in {**rules.symbols.defaults, **SAMPLE}.items()
                      if k in rules.symbols.attributes}
        return LeadView(0, str(SAMPLE["email"]), attributes, dict.fromkeys(rules.scores, 0), rules.symbols.stages[0],
                        None, False), None
    with ctx.store.transaction() as tx:
        lead = tx.reports.show_lead(rules, email_address, now, events=0)
        ref = tx.reports.find_lead(lead["email"])
    assert ref is not None
    return LeadView(ref.id, lead["email"], lead["attributes"], lead["scores"], lead["stage"], lead["owner"],
                    lead["unsubscribed"]), ref


def compose_preview(ctx: AppContext, template: str, email_address: str | None, to: str | None = None) -> Preview:
    """``template`` for the lead (LeadNotFound when unknown) as the daemon would compose it now; ``to`` sends it
    to another address (a test send), the lead's data unchanged."""
    version_id, rules = ctx.rules()
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        files = tx.reports.campaign_files(version_id)
    lead, _ = _lead_view(ctx, rules, email_address, now)
    sales = template in sales_templates(rules)
    kind = "sales" if sales else "marketing"
    # links and the open pixel look as they would, but are signed with a throwaway key: a preview loaded, or a
    # test email opened or clicked, records nothing about the lead and unsubscribes no one
    inert = "preview-" + secrets.token_hex(16)
    composer = Composer(ctx.nurture.config.base_url, lambda: inert)
    draft = PlainDraft(f"preview:{secrets.token_hex(8)}", kind, lead.id, to or lead.email, template,
                         f"<preview.{secrets.token_hex(8)}@nurture>")

    def context_for(unsubscribe: str) -> dict[str, Any]:
        if sales and lead.id:
            with ctx.store.transaction() as tx:
                return email_context(tx, rules, lead, now, unsubscribe, None, True)
        context = email_context(None, rules, lead, now, unsubscribe, None, False)
        if sales:  # a sample lead has no ledger: the alert shows how it reads without reasons
            context["reasons"], context["activity"] = [], []
        return context

    data = composer.compose(draft, rules.symbols.settings, (version_id, files), now, context_for)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    html = parsed.get_body(("html",))
    text = parsed.get_body(("plain",))
    return Preview(template, lead.email, kind, [(k, str(v)) for k, v in parsed.items()],
                   None if html is None else str(html.get_content()), None if text is None else str(text.get_content()),
                   data, str(rules.symbols.settings.get("sender address", "")))

