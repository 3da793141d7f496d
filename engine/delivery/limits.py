"""The bounds on rendering one email: a time budget, a size limit, bounded loops and bounded growth.

`nurture check` rejects templates that can never render; these limits stop the ones that render for ever or
without end for some lead (a loop that never finishes, `'x' * 10**9`, a string doubled in a recursive macro),
so one template fails its own send and never holds up or exhausts the daemon. Each render gets a `Budget`
(a context variable, so renders in different threads never share one); the environment below checks it:

  - time (the rendering thread's CPU time): between output chunks, at every call, filter, attribute lookup
    and every 256 loop items
  - size: every part's output as it streams, and every value a call, a filter or an operator makes
  - loops: ``range`` yields at most ``max_iterations`` items per email in all
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateRuntimeError, Undefined
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, safe_range

#: seconds of CPU one email's templates (HTML, subject, text) may take to render. CPU time of the rendering
#: thread, not wall time: a template that never ends burns CPU, while a busy machine only slows the clock.
TIME_LIMIT = 2.0
#: characters one part (HTML, text) may have; Gmail clips a message at 102 KB, so this is far beyond any email
MAX_OUTPUT = 1_000_000
#: items ``range`` may yield per email, over all loops
MAX_ITERATIONS = 1_000_000
#: the largest number a template may make, in bits (about 30,000 digits)
MAX_INT_BITS = 100_000


class TemplateLimit(TemplateRuntimeError):
    """A template went past a limit; the message says which and what to look for."""


@dataclass
class Budget:
    time_limit: float
    max_output: int
    #: the rendering thread's CPU time (`time.thread_time`) at which the render must stop
    deadline: float
    iterations_left: int
    #: the monotonic time before which the deadline cannot have passed. A thread uses at most one second of CPU
    #: per second of wall time, so until then ``tick`` need not read the thread's CPU clock: that read is a
    #: system call, many times the cost of the attribute lookup or call it would guard.
    unread_until: float = -math.inf

    def tick(self) -> None:
        now = time.monotonic()  # read before the CPU clock, so the CPU time left is never overstated
        if now < self.unread_until:
            return
        left = self.deadline - time.thread_time()
        if left < 0:
            raise TemplateLimit(f"took more than {self.time_limit:g} seconds of CPU, the limit for one email; look for "
                                "a loop that never ends or grows with the data")
        self.unread_until = now + left

    def size(self, value: Any, what: str) -> None:
        """Refuse ``value`` when it is bigger than an email may be."""
        if isinstance(value, str | list | tuple | dict | bytes) and len(value) > self.max_output:
            raise TemplateLimit(f"{what} makes {len(value):,} items, more than the limit of {self.max_output:,}")
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
            raise TemplateLimit(f"{what} makes a number of {value.bit_length():,} bits, more than the limit of "
                                f"{MAX_INT_BITS:,}")

    def grow(self, expected: float, what: str) -> None:
        """Refuse before making a value of about ``expected`` items."""
        if expected > self.max_output:
            raise TemplateLimit(f"{what} would make about {int(expected):,} characters, more than the limit of "
                                f"{self.max_output:,}")


_BUDGET: ContextVar[Budget | None] = ContextVar("nurture_render_budget", default=None)


@contextlib.contextmanager
def budget(time_limit: float = TIME_LIMIT, max_output: int = MAX_OUTPUT,
           max_iterations: int = MAX_ITERATIONS) -> Iterator[Budget]:
    """The budget of one email's render, in force inside the block."""
    started = time.monotonic()
    spent = Budget(time_limit, max_output, time.thread_time() + time_limit, max_iterations, started + time_limit)
    token = _BUDGET.set(spent)
    try:
        yield spent
    finally:
        _BUDGET.reset(token)


def _current() -> Budget | None:
    return _BUDGET.get()


class BoundedRange:
    """``range`` as templates see it: the same sequence, counted against the email's budget as it is looped over."""

    def __init__(self, items: range) -> None:
        self._items = items

    def __iter__(self) -> Iterator[int]:
        spent = _current()
        if spent is None:
            yield from self._items
            return
        for n, item in enumerate(self._items):
            if n & 255 == 0:
                spent.tick()
            spent.iterations_left -= 1
            if spent.iterations_left < 0:
                raise TemplateLimit(f"loops over more than {MAX_ITERATIONS:,} range() items; look for nested "
                                    "loops that never end")
            yield item

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __reversed__(self) -> Iterator[int]:
        return iter(BoundedRange(self._items[::-1]))

    def __repr__(self) -> str:
        return repr(self._items)


def bounded_range(*args: int) -> BoundedRange:
    return BoundedRange(safe_range(*args))


def default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    """Jinja's ``default`` that also replaces None: a lead attribute with no value is as good as missing."""
    if value is None or isinstance(value, Undefined) or (boolean and not value):
        return default_value
    return value


def finalize(value: Any) -> Any:
    """What ``{{ ... }}`` prints: nothing for a missing value, never "None"."""
    return "" if value is None else value


# ----- growth: what a call, a filter or an operator would make -----------------------------------------------

_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\d+|\*)?(?:\.(\d+|\*))?[hlL]?[diouxXeEfFgGcrsa%]")
_FORMAT_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")
_PADDING = {"ljust", "rjust", "center", "zfill"}


def _widths(fmt: str, args: Any) -> list[int]:
    """The widths and precisions a format string asks for (``%*d`` takes them from the arguments)."""
    found = [n for m in _PRINTF_SPEC.finditer(fmt) for n in m.groups() if n]
    found += [n for m in _FORMAT_SPEC.finditer(fmt) for n in re.findall(r"\d+", m.group(1))]
    widths = [int(n) for n in found if n.isdigit()]
    if "*" in found:
        widths += [a for a in (args if isinstance(args, tuple) else (args,)) if isinstance(a, int)]
    return widths


def _expected(name: str, target: Any, args: tuple[Any, ...]) -> float:
    """About how many characters ``target.name(*args)`` (a str method or filter of that name) makes; 0 when
    the result is no bigger than what goes in."""
    if not isinstance(target, str):
        return 0
    if name in _PADDING or name == "indent":
        width = args[0] if args else 0
        if name == "indent":  # every line gets the prefix
            width = len(width) if isinstance(width, str) else width
            return len(target) + (target.count("\n") + 1) * width if isinstance(width, int) else 0
        return width if isinstance(width, int) else 0
    if name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else 8
        return len(target) + target.count("\t") * size
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        times = target.count(args[0]) if args[0] else len(target) + 1
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            times = min(times, args[2])
        return len(target) + times * max(0, len(args[1]) - len(args[0]))
    if name == "format":
        return max(_widths(target, args), default=0)
    return 0


#: filters of text: given a missing value (None) they see "" (``{{ lead.company | upper }}`` is "", not "NONE")
_TEXT_FILTERS = {"capitalize", "center", "e", "escape", "forceescape", "indent", "lower", "replace", "string",
                 "striptags", "title", "trim", "truncate", "upper", "urlencode", "urlize", "wordwrap"}


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0  # context or environment first
    text = name in _TEXT_FILTERS

    @functools.wraps(func)  # keeps jinja_pass_arg, so Jinja passes what the filter expects
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if text and len(args) > skip and args[skip] is None:
            args = (*args[:skip], "", *args[skip + 1:])
        spent = _current()
        if spent is None:
            return func(*args, **kwargs)
        spent.tick()
        value, rest = (args[skip], args[skip + 1:]) if len(args) > skip else (None, ())
        if name == "format" and isinstance(value, str):
            spent.grow(max(_widths(value, rest), default=0), f"the filter {name}")
        else:
            spent.grow(_expected(name, value, tuple(rest) + tuple(kwargs.values())), f"the filter {name}")
        result = func(*args, **kwargs)
        spent.size(result, f"the filter {name}")
        return result

    return bounded


class BoundedEnvironment(SandboxedEnvironment):
    """Jinja's sandbox with the budget checked as templates run: time, output, loops, and growth."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=finalize, **options)
        self.globals["range"] = bounded_range
        self.filters["default"] = self.filters["d"] = default
        self.filters = {name: _bounded_filter(name, func) for name, func in self.filters.items()}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        spent = _current()
        if spent is not None:
            spent.tick()
            what = f"the operator {operator}"
            if operator == "*":
                for seq, times in ((left, right), (right, left)):
                    if isinstance(seq, str | list | tuple) and isinstance(times, int):
                        spent.grow(len(seq) * times, what)
            elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 \
                    and right > 0 and right * math.log2(abs(left)) > MAX_INT_BITS:
                raise TemplateLimit(f"{left} ** {right} makes a number bigger than the limit of {MAX_INT_BITS:,} bits")
            elif operator == "%" and isinstance(left, str):
                spent.grow(max(_widths(left, right), default=0), what)
        result = super().call_binop(context, operator, left, right)
        if spent is not None:
            spent.size(result, f"the operator {operator}")
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        spent = _current()
        if spent is None:
            return super().call(__context, __obj, *args, **kwargs)
        spent.tick()
        name = getattr(__obj, "__name__", None) or getattr(__obj, "name", None) or "a call"
        for arg in (*args, *kwargs.values()):
            spent.size(arg, f"an argument of {name}")
        spent.grow(_expected(name, getattr(__obj, "__self__", None), args), f"{name}()")
        result = super().call(__context, __obj, *args, **kwargs)
        spent.size(result, f"{name}()")
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        spent = _current()
        if spent is not None:
            spent.tick()
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        spent = _current()
        if wrapped is None or spent is None:
            return wrapped
        fmt = value.__self__

        @functools.wraps(wrapped)
        def bounded(*args: Any, **kwargs: Any) -> str:
            spent.grow(max(_widths(fmt, args), default=0), "str.format")
            return wrapped(*args, **kwargs)

        return bounded
