"""Stages: the ladder leads climb, where `back to` may send them, and stages no lead can reach."""

from __future__ import annotations

from . import ast as a
from .check_conditions import Place, check_condition
from .check_context import Context
from .check_names import declare_stage, known_stage
from .check_types import check_address, check_owners, check_recipient
from .logic import Logic
from .symbols import FIRST_STAGE, Symbols


def check_stage(ctx: Context, stage: a.Stage) -> None:
    declare_stage(ctx, stage.name)
    for item in stage.items:
        match item:
            case a.Promote(condition=cond):
                check_condition(ctx, cond, Place())
            case a.Demote(target=target, condition=cond):
                check_back_to(ctx, stage, target, "`back to` moves leads down the ladder; promote with `when` instead")
                check_condition(ctx, cond, Place())
            case a.Notify(recipient=recipient, template=template):
                check_recipient(ctx, recipient)
                ctx.sends.append(template)
            case a.AssignRoundRobin(owners=owners):
                check_owners(ctx, owners, item.span)
            case a.AssignWhen(owner=owner, condition=cond):
                check_address(ctx, owner, item.span, "owner address")
                check_condition(ctx, cond, Place())


def check_back_to(ctx: Context, stage: a.Stage, target: a.Name, help: str) -> None:
    """`back to` names a known stage below ``stage``."""
    if not known_stage(ctx, target):
        return
    stages = ctx.sym.stages
    if stage.name in stages and stages.index(target) >= stages.index(stage.name):
        ctx.report("E407", target.span, target=target, name=stage.name,
                   label="a stage cannot send leads back to itself" if target == stage.name
                   else f"`{target}` comes after `{stage.name}` in the ladder",
                   help=help)


def reachable_stages(sym: Symbols, logic: Logic) -> set[str]:
    """Stages a lead can be in: promoted into by a possible condition, or sent back to from one."""
    reachable = {FIRST_STAGE}
    reachable |= {name for name, stage in sym.stage_nodes.items()
                  if any(isinstance(i, a.Promote) and not logic.never(i.condition, None) for i in stage.items)}
    changed = True
    while changed:
        changed = False
        for name in list(reachable):
            stage = sym.stage_nodes.get(name)
            for item in stage.items if stage is not None else ():
                if (isinstance(item, a.Demote) and item.target not in reachable
                        and not logic.never(item.condition, None)):
                    reachable.add(item.target)
                    changed = True
    return reachable


def check_reachability(ctx: Context) -> None:
    """Declared stages no lead can ever be in (E404)."""
    for name, stage in ctx.sym.stage_nodes.items():
        if name not in ctx.reachable:
            promotes = [i for i in stage.items if isinstance(i, a.Promote)]
            label = ("no `when` promotes leads to it and no stage sends them back to it" if not promotes
                     else "its `when` condition can never hold" if len(promotes) == 1
                     else "none of its `when` conditions can ever hold")
            ctx.report("E404", stage.name.span, name=name, label=label,
                       help=f"add a condition that promotes leads: `when ...` inside `stage {name}`")
