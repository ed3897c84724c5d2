"""Is a treatment's rate really different from treatment A's? A two-proportion z-test (pooled), and
the A/B winner it decides. Pure functions: the campaign page gives them counts.

For successes x₁ of n₁ (treatment A) and x₂ of n₂ (the other), with p̂ = (x₁ + x₂) / (n₁ + n₂):
z = (x₂/n₂ - x₁/n₁) / √(p̂ (1 - p̂) (1/n₁ + 1/n₂)), and the two-sided p-value is erfc(|z| / √2)
(the probability of a difference at least this large if both rates were the same). The difference
is significant when p < ALPHA. Each treatment is compared with A only, without a correction for
several comparisons; with fewer than MIN_SAMPLE trials in a treatment there is no test (the normal
approximation it relies on is poor with few trials).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

ALPHA = 0.05
MIN_SAMPLE = 30


@dataclass(frozen=True)
class Comparison:
    """A treatment's rate against A's: z (positive when higher than A's), the two-sided p-value."""

    z: float
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA

    @property
    def p_text(self) -> str:
        """The p-value as the pages show it: three decimals, or "< 0.001"."""
        return "< 0.001" if self.p_value < 0.001 else f"{self.p_value:.3f}"


def two_proportion_z_test(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> Comparison:
    """z and two-sided p-value of rate B against rate A. Raises ValueError for counts that are not
    proportions (negative, no trials, more successes than trials). Equal rates at 0% or 100% (no
    variance) give z = 0 and p = 1."""
    if trials_a <= 0 or trials_b <= 0:
        raise ValueError("Both treatments need at least one trial.")
    if not (0 <= successes_a <= trials_a and 0 <= successes_b <= trials_b):
        raise ValueError("Successes must be between 0 and the number of trials.")
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance <= 0:
        return Comparison(0.0, 1.0)
    z = (successes_b / trials_b - successes_a / trials_a) / math.sqrt(variance)
    return Comparison(z, math.erfc(abs(z) / math.sqrt(2)))


@dataclass(frozen=True)
class Arm:
    treatment_id: str
    successes: int
    trials: int

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else 0.0


@dataclass(frozen=True)
class Verdict:
    """The outcome of an A/B test. `outcome`: "winner" (`winner` is the treatment id), "no_difference"
    (tested, nothing significant), "too_small" (a treatment has fewer than MIN_SAMPLE trials, so not
    everything could be tested) or "single" (one treatment, nothing to compare). `comparisons`: each
    treatment after A against A, None when not tested."""

    outcome: str
    winner: str | None
    comparisons: dict[str, Comparison | None]


def ab_winner(arms: Sequence[Arm], *, min_sample: int = MIN_SAMPLE) -> Verdict:
    """The winning treatment, A being `arms[0]`: of the treatments whose rate is significantly higher
    than A's, the one with the highest rate; A when every other treatment is significantly lower;
    none otherwise."""
    if len(arms) < 2:
        return Verdict("single", None, {})
    control, others = arms[0], arms[1:]
    comparisons: dict[str, Comparison | None] = {}
    for arm in others:
        if control.trials < min_sample or arm.trials < min_sample:
            comparisons[arm.treatment_id] = None
        else:
            comparisons[arm.treatment_id] = two_proportion_z_test(
                control.successes, control.trials, arm.successes, arm.trials
            )
    better = [
        arm
        for arm in others
        if (c := comparisons[arm.treatment_id]) is not None and c.significant and arm.rate > control.rate
    ]
    if better:
        return Verdict("winner", max(better, key=lambda arm: arm.rate).treatment_id, comparisons)
    tested = [c for c in comparisons.values() if c is not None]
    if len(tested) == len(others) and all(c.significant and c.z < 0 for c in tested):
        return Verdict("winner", control.treatment_id, comparisons)
    return Verdict("too_small" if len(tested) < len(others) else "no_difference", None, comparisons)
