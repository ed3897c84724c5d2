"""The A/B test's two-proportion z-test and the winner it decides, against values computed by hand
(pooled proportion, standard error, z, and the two-sided p-value from a normal table)."""

import pytest

from campaigns.campaign_results import TreatmentResult, ab_test
from campaigns.message_metrics import Figures
from campaigns.significance import Arm, Comparison, ab_winner, two_proportion_z_test


def test_a_higher_rate_with_enough_trials_is_significant():
    # p = 230/2000 = 0.115; se = sqrt(0.115 * 0.885 * (1/1000 + 1/1000)) = 0.0142671;
    # z = (0.13 - 0.10) / 0.0142671 = 2.1027; p = 2 * (1 - Φ(2.1027)) = 2 * 0.017744 = 0.0355
    result = two_proportion_z_test(100, 1000, 130, 1000)

    assert result.z == pytest.approx(2.1027, abs=1e-4)
    assert result.p_value == pytest.approx(0.0355, abs=1e-4)
    assert result.significant


def test_a_lower_rate_gives_a_negative_z():
    # p = 45/200 = 0.225; se = sqrt(0.225 * 0.775 * 0.02) = 0.059055; z = -0.15 / 0.059055 = -2.5400;
    # p = 2 * (1 - Φ(2.54)) = 2 * 0.005543 = 0.0111
    result = two_proportion_z_test(30, 100, 15, 100)

    assert result.z == pytest.approx(-2.5400, abs=1e-4)
    assert result.p_value == pytest.approx(0.0111, abs=1e-4)
    assert result.significant


def test_a_small_difference_is_not_significant():
    # p = 25/200 = 0.125; se = sqrt(0.125 * 0.875 * 0.02) = 0.046771; z = 0.05 / 0.046771 = 1.0690;
    # p = 2 * (1 - Φ(1.069)) = 2 * 0.14252 = 0.2850
    result = two_proportion_z_test(10, 100, 15, 100)

    assert result.z == pytest.approx(1.0690, abs=1e-4)
    assert result.p_value == pytest.approx(0.2850, abs=1e-3)
    assert not result.significant


def test_unequal_sample_sizes():
    # p = 60/500 = 0.12; se = sqrt(0.12 * 0.88 * (1/200 + 1/300)) = 0.029665;
    # z = (40/300 - 20/200) / 0.029665 = 0.033333 / 0.029665 = 1.1237; p = 2 * (1 - Φ(1.1237)) = 0.2611
    result = two_proportion_z_test(20, 200, 40, 300)

    assert result.z == pytest.approx(1.1237, abs=1e-4)
    assert result.p_value == pytest.approx(0.2611, abs=1e-3)


@pytest.mark.parametrize("counts", [(50, 100, 50, 100), (0, 40, 0, 60), (40, 40, 60, 60)])
def test_equal_rates_give_no_difference(counts):
    result = two_proportion_z_test(*counts)

    assert (result.z, result.p_value) == (0.0, 1.0)
    assert not result.significant


@pytest.mark.parametrize("counts", [(1, 0, 1, 10), (1, 10, 1, 0), (11, 10, 1, 10), (-1, 10, 1, 10), (1, 10, 12, 10)])
def test_counts_that_are_not_proportions_are_refused(counts):
    with pytest.raises(ValueError):
        two_proportion_z_test(*counts)


def test_the_p_value_text():
    assert Comparison(5.0, 0.0000005).p_text == "< 0.001"
    assert Comparison(2.1, 0.03549).p_text == "0.035"


def test_the_best_significantly_better_treatment_wins():
    arms = [Arm("0", 100, 1000), Arm("1", 130, 1000), Arm("2", 160, 1000), Arm("3", 105, 1000)]

    verdict = ab_winner(arms)

    assert (verdict.outcome, verdict.winner) == ("winner", "2")
    assert verdict.comparisons["1"].significant and verdict.comparisons["2"].significant
    assert not verdict.comparisons["3"].significant
    assert set(verdict.comparisons) == {"1", "2", "3"}


def test_a_wins_when_every_other_treatment_is_significantly_lower():
    verdict = ab_winner([Arm("0", 30, 100), Arm("1", 15, 100)])

    assert (verdict.outcome, verdict.winner) == ("winner", "0")


def test_a_is_not_the_winner_when_one_treatment_is_only_slightly_lower():
    verdict = ab_winner([Arm("0", 30, 100), Arm("1", 15, 100), Arm("2", 28, 100)])

    assert (verdict.outcome, verdict.winner) == ("no_difference", None)


def test_no_significant_difference_has_no_winner():
    verdict = ab_winner([Arm("0", 10, 100), Arm("1", 15, 100)])

    assert (verdict.outcome, verdict.winner) == ("no_difference", None)
    assert verdict.comparisons["1"].p_value == pytest.approx(0.2850, abs=1e-3)


def test_fewer_than_30_trials_are_not_tested():
    verdict = ab_winner([Arm("0", 1, 29), Arm("1", 29, 29)])

    assert (verdict.outcome, verdict.winner) == ("too_small", None)
    assert verdict.comparisons == {"1": None}


def test_a_small_treatment_is_left_out_while_a_tested_one_can_win():
    verdict = ab_winner([Arm("0", 100, 1000), Arm("1", 160, 1000), Arm("2", 10, 12)])

    assert (verdict.outcome, verdict.winner) == ("winner", "1")
    assert verdict.comparisons["2"] is None


def test_a_too_small_a_tests_nothing():
    verdict = ab_winner([Arm("0", 0, 10), Arm("1", 500, 1000)])

    assert (verdict.outcome, verdict.winner) == ("too_small", None)


def test_one_treatment_is_no_test():
    assert ab_winner([Arm("0", 10, 100)]).outcome == "single"


def result(treatment_id: str, delivered: int, opens: int, clicks: int = 0) -> TreatmentResult:
    return TreatmentResult(treatment_id, figures=Figures(accepted=delivered, opens=opens, clicks=clicks))


def test_the_page_says_which_treatment_wins_with_its_p_value():
    rows = [result("0", 1000, 100), result("1", 1000, 130)]

    test = ab_test(rows, "open")

    assert test.text == (
        "Treatment B wins on open rate: 13.0% against 10.0% for treatment A, a difference that is "
        "statistically significant (p = 0.035, below 0.05)."
    )
    assert [r.winner for r in rows] == [False, True]
    assert rows[0].comparison is None and rows[1].comparison.p_text == "0.035"


def test_the_page_says_when_a_wins():
    rows = [result("0", 100, 30), result("1", 100, 15)]

    test = ab_test(rows, "open")

    assert test.text.startswith("Treatment A (the default) wins on open rate: 30.0%, and every other")
    assert [r.winner for r in rows] == [True, False]


def test_the_rate_is_the_chosen_one_and_an_unknown_choice_is_the_open_rate():
    rows = [result("0", 1000, 100, clicks=100), result("1", 1000, 100, clicks=130)]

    by_click, unknown = ab_test(rows, "click"), ab_test(rows, "bounce")

    assert (by_click.rate, by_click.verdict.winner) == ("click", "1")
    assert (unknown.rate, unknown.verdict.outcome) == ("open", "no_difference")
    assert "not statistically significant" in unknown.text


def test_the_page_says_when_samples_are_too_small():
    test = ab_test([result("0", 29, 3), result("1", 40, 30)], "open")

    assert test.text == (
        "No winner yet: too few delivered messages to test. Each treatment needs at least 30 delivered "
        "messages (delivered so far: A 29, B 40)."
    )
