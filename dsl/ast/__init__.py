"""The typed syntax tree of a campaign: frozen dataclasses, each carrying its source span.

Spans never take part in equality, so a campaign and its formatted copy compare equal.

Callers import everything from here (``from dsl import ast as a``); the modules split the tree by block kind.
"""

# --- accounts ---
from .accounts import (
    ACCOUNT_PREFIX,
    AccountAlert,
    AccountBy,
    AccountCompare,
    Accounts,
    AccountScore,
    AccountsItem,
    ExpectAccountValue,
    FreeMail,
    Rollup,
    RollupKind,
)
from .conditions import (
    AllOf,
    AnyOf,
    Between,
    Compare,
    CompareOp,
    Condition,
    EventRef,
    FieldTest,
    Happened,
    Matches,
    Member,
    Not,
    Presence,
    StageIs,
    Sum,
    SumBetween,
    SumCompare,
    Term,
    TextOp,
    TextTest,
)
from .declarations import (
    AttributeDecl,
    Attributes,
    CapPeriod,
    EventDecl,
    Events,
    FrequencyCap,
    PropDecl,
    QuietHours,
    Setting,
    SettingKey,
    Settings,
)
from .journeys import (
    Action,
    Branch,
    Entry,
    ExitRule,
    Goal,
    Journey,
    JourneyItem,
    NotifyAction,
    Reentry,
    Send,
    SendWindow,
    SetAttribute,
    StageBecomes,
    Step,
    Trigger,
    Wait,
    WaitEvent,
    WaitTime,
)
from .literals import (
    UNIT_SECONDS,
    WEEKDAY_NAMES,
    Days,
    Duration,
    TimeOfDay,
    TimeUnit,
    TypeName,
    TypeRef,
    Value,
    ValueKind,
)
from .nodes import (
    File,
    Item,
    Name,
    Node,
)
from .scenarios import (
    OFFSET_UNITS,
    Assignment,
    Check,
    EmailCap,
    EmailKind,
    Expect,
    ExpectBetween,
    ExpectEmail,
    ExpectJourney,
    ExpectStage,
    ExpectValue,
    Invariant,
    JourneyState,
    Moment,
    NoEmailWhen,
    OffsetUnit,
    Scenario,
    ScenarioEvent,
    ScenarioItem,
    ScenarioLead,
    ScenarioStart,
)
from .scores import (
    AttributeRule,
    Cap,
    Decay,
    EventRule,
    Floor,
    PerUnit,
    Score,
    ScoreItem,
)

# follow-up SLAs
from .sla import BackTo, BusinessHours, ExpectSla, FollowUp, OwnerTimezone, Reassign, SlaAction, SlaStatus
from .splits import Arm, ExpectArm, PickWinner, Split, SplitGoal, SplitItem, inner_steps
from .stages import (
    AssignRoundRobin,
    AssignWhen,
    Demote,
    Notify,
    Promote,
    Recipient,
    Stage,
    StageItem,
)
from .topics import (
    JourneyTopic,
    LeaveTopic,
    TopicDecl,
    Topics,
    UnsubscribeLeaves,
    UnsubscribeScope,
)

__all__ = [
    # accounts
    "ACCOUNT_PREFIX", "AccountAlert", "AccountBy", "AccountCompare", "AccountScore", "Accounts", "AccountsItem",
    "ExpectAccountValue", "FreeMail", "Rollup", "RollupKind",
    "Action", "AllOf", "AnyOf", "AssignRoundRobin", "AssignWhen", "Assignment", "AttributeDecl", "AttributeRule",
    "Attributes", "Between", "Branch", "Cap", "CapPeriod", "Check", "Compare", "CompareOp", "Condition", "Days",
    "Decay", "Demote", "Duration", "EmailCap", "EmailKind", "Entry", "EventDecl", "EventRef", "EventRule", "Events",
    "ExitRule", "Expect", "ExpectBetween", "ExpectEmail", "ExpectJourney", "ExpectStage", "ExpectValue", "FieldTest",
    "File", "Floor", "FrequencyCap", "Goal", "Happened", "Invariant", "Item", "Journey", "JourneyItem",
    "JourneyState", "Matches", "Member", "Moment", "Name", "NoEmailWhen", "Node", "Not", "Notify", "NotifyAction",
    "OFFSET_UNITS", "OffsetUnit", "PerUnit", "Presence", "Promote", "PropDecl", "QuietHours", "Recipient", "Reentry",
    "Scenario", "ScenarioEvent", "ScenarioItem", "ScenarioLead", "ScenarioStart", "Score", "ScoreItem", "Send",
    "SendWindow", "SetAttribute", "Setting", "SettingKey", "Settings", "Stage", "StageBecomes", "StageIs",
    "StageItem", "Step", "Sum", "SumBetween", "SumCompare", "Term", "TextOp", "TextTest", "TimeOfDay", "TimeUnit",
    "Trigger", "TypeName", "TypeRef", "UNIT_SECONDS", "Value", "ValueKind", "WEEKDAY_NAMES", "Wait", "WaitEvent",
    "WaitTime",
    # split steps
    "Arm", "ExpectArm", "PickWinner", "Split", "SplitGoal", "SplitItem", "inner_steps",
    # subscription topics
    "JourneyTopic", "LeaveTopic", "TopicDecl", "Topics", "UnsubscribeLeaves", "UnsubscribeScope",
    # follow-up SLAs
    "BackTo", "BusinessHours", "ExpectSla", "FollowUp", "OwnerTimezone", "Reassign", "SlaAction", "SlaStatus",
]
