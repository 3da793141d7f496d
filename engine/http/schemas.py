"""The API's request and response shapes, as documented in /openapi.json."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, and how to fix it")


class EventItem(BaseModel):
    """One engagement event, as in `nurture events ingest` files."""

    id: str | None = Field(None, description="Your id for the event; re-sending the same id is a duplicate. "
                                             "Without one, the event's content is its identity")
    lead: str = Field(description="The lead's email address", examples=["ann@example.com"])
    type: str = Field(description="An event type declared in the campaign's `events` blocks, or a built-in one",
                      examples=["page.viewed"])
    at: str = Field(description="When it happened: ISO 8601 with a timezone", examples=["2026-03-01T09:30:00Z"])
    props: dict[str, Any] = Field(default_factory=dict, description="Properties declared for the event type",
                                  examples=[{"url": "/pricing"}])


class LeadItem(BaseModel):
    """A lead to create or update, as in `nurture leads import` files."""

    model_config = {"extra": "allow", "json_schema_extra": {
        "description": "`email` plus any attributes declared in the campaign's `attributes` block"}}
    email: str = Field(examples=["ann@example.com"])
    owner: str | None = Field(None, description="The salesperson's email address")


class RejectedItem(BaseModel):
    index: int = Field(description="0-based position of the item in the request")
    field: str | None = Field(None, description="The field at fault, when one is")
    error: str


class IntakeResult(BaseModel):
    accepted: int = Field(description="Items stored by this request")
    duplicates: int = Field(description="Items already stored before (same id, or same content)")
    rejected: list[RejectedItem] = Field(description="Items refused, each kept in quarantine with its reason")
    error: str | None = None


class LeadsResult(BaseModel):
    accepted: int
    created: int = Field(description="Leads that did not exist before")
    updated: int = Field(description="Leads whose attributes were merged")
    rejected: list[RejectedItem]
    error: str | None = None


class Feedback(BaseModel):
    verdict: Literal["accept", "reject"] = Field(description="accept: sales works the lead; reject: back to "
                                                             "marketing, as the campaign says")
    reason: str = Field("", max_length=1000, description="Why; required to reject", examples=["no budget this quarter"])
    id: str | None = Field(None, max_length=150, description="Your id, so a retried request is recorded once")


class FeedbackResult(BaseModel):
    lead: str
    event: str = Field(description="The built-in event recorded: sales.accepted or sales.rejected")
    duplicate: bool = Field(description="True when this id was recorded before")
    previous_stage: str
    stage: str = Field(description="The lead's stage after the campaign's rules saw the feedback")


class JourneyEnrollment(BaseModel):
    """One of the lead's journey enrolments, as the store has it."""

    journey: str = Field(description="The journey's name", examples=["welcome"])
    entry: int = Field(description="1 the first time the lead entered this journey, 2 on a re-entry, ...")
    version_id: int = Field(description="The campaign version the enrolment runs on")
    step: str | None = Field(description="The label of the step it is at; null once it has ended",
                             examples=["intro"])
    status: str = Field(description="active: the step runs when due; waiting: for an event or until due; done: "
                                    "finished the journey; exited: left it (an exit rule, its goal, or the "
                                    "journey was removed)", examples=["waiting"])
    due_at: str | None = Field(description="When the step is next due (ISO 8601, UTC); null when it waits "
                                           "without a deadline or has ended")
    entered_at: str
    ended_at: str | None = Field(description="When it ended; null while it runs")
    end_reason: str | None = Field(description="How it ended, e.g. the exit rule or goal that fired")


class LeadView(BaseModel):
    email: str
    stage: str
    stage_since: str
    owner: str | None
    scores: dict[str, int | float]
    attributes: dict[str, Any]
    unsubscribed: bool
    suppressed: str | None = Field(None, description="Why no marketing email goes to the address, if none does")
    created_at: str
    recent_events: list[dict[str, Any]]
    stage_history: list[dict[str, Any]]
    journeys: list[JourneyEnrollment] = Field(description="Every journey enrolment of the lead, oldest first")
    explanation: list[dict[str, Any]] = Field(description="Every score with the rules and events that make it up")


class DaemonStatus(BaseModel):
    name: str
    started_at: str
    heartbeat_at: str
    seconds_since_heartbeat: float


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    store: str
    scheduler_lag_seconds: float | None = Field(description="Seconds since the newest daemon heartbeat; "
                                                            "null when no daemon runs")
    daemons: list[DaemonStatus]


def one_or_many(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body for endpoints that take one object or a list of them."""
    item = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"oneOf": [item, {"type": "array", "items": item}]}}}}}


class ErasureResult(BaseModel):
    """What an erasure removed; the address itself is kept only as a salted hash."""

    lead: str = Field(description="The address that was erased (normalised)", examples=["ann@example.com"])
    erased: dict[str, int] = Field(description="Rows removed per table (and other leads whose owner it was)",
                                   examples=[{"events": 12, "outbox": 3, "leads": 1}])
