"""Evidence for a scoring model: rule lift, stage precision and recall, and rank-based AUC."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def rate(part: int, whole: int) -> float | None:
    """``part / whole``, or None when there is nothing to divide (never a made-up zero)."""
    return part / whole if whole else None


def lift(fired_converted: int, fired: int, converted: int, total: int) -> float | None:
    """How many times more often leads a rule fired for converted than leads overall.

    1.0 means the rule says nothing about converting; None when the rule never fired or nobody
    converted at all, since a ratio of nothing is not evidence.
    """
    fired_rate, base = rate(fired_converted, fired), rate(converted, total)
    if fired_rate is None or not base:
        return None
    return fired_rate / base


@dataclass(frozen=True)
class Confusion:
    """Predicted (e.g. reached a stage) against actual (converted), counted over leads."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float | None:
        """Of the leads predicted, the share that converted; None when nothing was predicted."""
        return rate(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        """Of the leads that converted, the share predicted; None when nobody converted."""
        return rate(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)


def confusion(pairs: Iterable[tuple[bool, bool]]) -> Confusion:
    """Count (predicted, actual) pairs."""
    tp = fp = fn = tn = 0
    for predicted, actual in pairs:
        if predicted and actual:
            tp += 1
        elif predicted:
            fp += 1
        elif actual:
            fn += 1
        else:
            tn += 1
    return Confusion(tp, fp, fn, tn)


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve: the chance a random converter outscores a random non-converter.

    Computed from ranks (Mann-Whitney U) with tied scores given their average rank, so a tie
    between a converter and a non-converter counts as half. None without both classes.
    """
    if len(scores) != len(labels):
        raise ValueError("scores and labels must have the same length")
    positives = sum(1 for label in labels if label)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        average = (i + j) / 2 + 1  # ranks are 1-based
        rank_sum += average * sum(1 for k in range(i, j + 1) if labels[order[k]])
        i = j + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def roc_points(scores: Sequence[float], labels: Sequence[bool], limit: int = 200) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) at each distinct threshold, for drawing the curve.

    At most about ``limit`` points, thinned evenly; starts at (0, 0) and ends at (1, 1).
    """
    positives = sum(1 for label in labels if label)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return []
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    points = [(0.0, 0.0)]
    tp = fp = 0
    for n, index in enumerate(order):
        if labels[index]:
            tp += 1
        else:
            fp += 1
        if n + 1 == len(order) or scores[order[n + 1]] != scores[index]:
            points.append((fp / negatives, tp / positives))
    if len(points) > limit:
        step = len(points) / limit
        points = [points[int(k * step)] for k in range(limit)] + [points[-1]]
    return points
