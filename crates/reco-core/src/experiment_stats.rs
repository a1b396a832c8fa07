//! Statistics of A/B experiments: the pure functions behind `reco.experiment_results()`.
//!
//! Nothing here reads tables. The SQL layer aggregates each arm in one pass into the
//! *sufficient statistics* below ([`MeanStats`], [`ProportionStats`], [`RatioStats`]: counts,
//! sums, sums of squares and cross products over users), calls the tests, and maps every `None`
//! to SQL `NULL`.
//!
//! # Methods, and why
//!
//! * The unit of randomisation is the **user** (or anonymous visitor), so every test treats users
//!   as the independent observations. One user's impressions, clicks and orders are correlated;
//!   treating them as independent trials would understate the variance and overstate
//!   significance.
//! * **Per-user means** (revenue per user): [`welch_t_test`], Welch's unequal-variance t-test
//!   with Welch–Satterthwaite degrees of freedom, because the arms need not have equal variance
//!   or size. Matches `scipy.stats.ttest_ind(treatment, control, equal_var=False)`.
//! * **User-level conversion** (did the user convert at least once): [`two_proportion_z_test`],
//!   the two-proportion z-test; its p-value uses the pooled standard error, which makes it
//!   identical to the Pearson chi-squared test of the 2×2 table without continuity correction
//!   (`scipy.stats.chi2_contingency(table, correction=False)`). The confidence interval of the
//!   difference uses the unpooled standard error, because the interval is not computed under the
//!   null hypothesis of equal rates.
//! * **Ratio metrics** whose unit of analysis is not the user (CTR = clicks / impressions,
//!   AOV = revenue / orders): [`ratio_delta_test`], a z-test whose variance comes from the delta
//!   method applied to the ratio of two per-user means.
//! * **Relative lift** `treatment / control − 1` on every comparison, with a delta-method
//!   interval (see [`relative_lift_interval`]).
//! * **Sample-ratio mismatch**: [`srm_test`], chi-squared goodness of fit of the users per arm
//!   against the configured weights, flagged at `p < 0.001` ([`SRM_P_THRESHOLD`]). It is checked
//!   before any winner is named: an SRM means the assignment or the logging is broken, and then
//!   no comparison of the arms can be trusted.
//! * **Planning**: [`sample_size_per_arm`] for a two-proportion test.
//! * **Verdict**: [`verdict`], which names a winner only when the data can support it.
//! * **Assignment**: [`assignment_bucket`] and [`arm_for_bucket`], a fully specified,
//!   version-stable hash of (experiment seed, user or visitor key) into [`BUCKET_COUNT`] buckets.
//!
//! # Conventions
//!
//! * Every comparison is *treatment against control*: lifts are `treatment − control`, and the
//!   functions take `(control, treatment, ..)` in that order.
//! * Sample variances and covariances use the unbiased `n − 1` normalisation (numpy `ddof=1`),
//!   as scipy's `ttest_ind` does.
//! * Every `f64` output is either finite or `None`: a statistic that is undefined for the data
//!   (no users, one user, zero variance, zero denominator, `NaN` inputs, an invalid confidence
//!   level) is `None`, never `NaN` or infinite, and nothing panics on user data.
//! * Variances are computed from sums (`Σx² − (Σx)²/n`), which is what a one-pass SQL aggregate
//!   can give. That formula loses precision when the variance is tiny compared with the squared
//!   mean (cancellation); for money and count metrics of realistic size it is far from that
//!   regime. A slightly negative result of rounding is clamped to zero.
//! * Several treatment arms are each compared with the control at the stated confidence; no
//!   multiple-comparison correction is applied here (the caller may pass a stricter `alpha`).

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

/// Number of assignment buckets; a user's bucket is in `0..BUCKET_COUNT`.
pub const BUCKET_COUNT: u32 = 10_000;

/// A sample-ratio mismatch is flagged when the goodness-of-fit p-value is below this.
///
/// Strict on purpose: the SRM check runs on every look at every experiment, so a loose
/// threshold would raise false alarms, while a real assignment bug with thousands of users
/// gives p-values far below 0.001.
pub const SRM_P_THRESHOLD: f64 = 0.001;

/// The confidence level of the intervals reported by `experiment_results()`.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

// ---------------------------------------------------------------------------------------------
// Sufficient statistics
// ---------------------------------------------------------------------------------------------

/// Sufficient statistics of a per-user numeric metric `x` (e.g. revenue per user) in one arm.
///
/// Users with no activity must be included with `x = 0`: the metric is a mean over *all*
/// assigned users, otherwise the arms would be compared on self-selected subsets.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MeanStats {
    /// Number of users.
    pub n: u64,
    /// `Σ x` over users.
    pub sum: f64,
    /// `Σ x²` over users.
    pub sum_sq: f64,
}

impl MeanStats {
    /// Summarises one value per user.
    pub fn from_values(values: &[f64]) -> Self {
        let mut stats = Self::default();
        for &x in values {
            stats.add(x);
        }
        stats
    }

    /// Adds one user's value.
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        self.sum += x;
        self.sum_sq += x * x;
    }

    /// Mean over users; `None` without users.
    pub fn mean(&self) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        finite(self.sum / self.n as f64)
    }

    /// Unbiased sample variance (`n − 1` normalisation); `None` for fewer than two users.
    pub fn sample_variance(&self) -> Option<f64> {
        sample_variance(self.n, self.sum, self.sum_sq)
    }

    /// Variance of the mean estimate, `s² / n` (the squared standard error).
    pub fn variance_of_mean(&self) -> Option<f64> {
        finite(self.sample_variance()? / self.n as f64)
    }
}

/// Sufficient statistics of a per-user yes/no outcome (e.g. "converted at least once").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProportionStats {
    /// Number of users.
    pub n: u64,
    /// Users with the outcome; must not exceed `n` (otherwise every statistic is `None`).
    pub successes: u64,
}

impl ProportionStats {
    /// Summarises one outcome per user.
    pub fn from_outcomes(outcomes: &[bool]) -> Self {
        ProportionStats {
            n: outcomes.len() as u64,
            successes: outcomes.iter().filter(|&&converted| converted).count() as u64,
        }
    }

    /// Share of users with the outcome; `None` without users or when `successes > n`.
    pub fn rate(&self) -> Option<f64> {
        if self.n == 0 || self.successes > self.n {
            return None;
        }
        Some(self.successes as f64 / self.n as f64)
    }

    /// Binomial variance of the rate estimate, `p (1 − p) / n` (unpooled).
    pub fn variance_of_rate(&self) -> Option<f64> {
        let p = self.rate()?;
        Some(p * (1.0 - p) / self.n as f64)
    }
}

/// Sufficient statistics of a ratio metric `Σ num / Σ den` whose numerator and denominator are
/// summed per user first (CTR: clicks / impressions; AOV: revenue / orders).
///
/// The estimate is the ratio of sums (e.g. all clicks over all impressions of the arm), not the
/// mean of per-user ratios. Users with a zero denominator (no impressions, no orders) are still
/// counted in `n` and contribute `(0, 0)`; the estimator is the same with or without them and
/// the delta-method variance is consistent either way as long as `n` counts the rows summed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RatioStats {
    /// Number of users.
    pub n: u64,
    /// `Σ num` over users.
    pub sum_num: f64,
    /// `Σ den` over users.
    pub sum_den: f64,
    /// `Σ num²` over users.
    pub sum_num_sq: f64,
    /// `Σ den²` over users.
    pub sum_den_sq: f64,
    /// `Σ num·den` over users.
    pub sum_num_den: f64,
}

impl RatioStats {
    /// Summarises one `(numerator, denominator)` pair per user.
    pub fn from_pairs(pairs: &[(f64, f64)]) -> Self {
        let mut stats = Self::default();
        for &(num, den) in pairs {
            stats.add(num, den);
        }
        stats
    }

    /// Adds one user's numerator and denominator.
    pub fn add(&mut self, num: f64, den: f64) {
        self.n += 1;
        self.sum_num += num;
        self.sum_den += den;
        self.sum_num_sq += num * num;
        self.sum_den_sq += den * den;
        self.sum_num_den += num * den;
    }

    /// `Σ num / Σ den`; `None` when the denominator sum is zero.
    pub fn ratio(&self) -> Option<f64> {
        if self.sum_den == 0.0 {
            return None;
        }
        finite(self.sum_num / self.sum_den)
    }

    /// Delta-method variance of [`ratio`](Self::ratio), from the per-user covariance.
    ///
    /// With `μ_N, μ_D` the per-user means, `σ_N², σ_D², σ_ND` the sample (co)variances
    /// (`n − 1` normalisation) and `R = μ_N / μ_D`:
    ///
    /// ```text
    /// Var(R) ≈ (1/n) (σ_N²/μ_D² − 2 μ_N σ_ND/μ_D³ + μ_N² σ_D²/μ_D⁴)
    ///        = (σ_N² − 2 R σ_ND + R² σ_D²) / (n μ_D²)
    /// ```
    ///
    /// The second form is the one computed: it is the variance of the per-user linearised
    /// value `num − R·den`, so it cannot be negative except by rounding (clamped to zero).
    /// `None` for fewer than two users or a zero denominator sum.
    pub fn variance_of_ratio(&self) -> Option<f64> {
        let ratio = self.ratio()?;
        let var_num = sample_variance(self.n, self.sum_num, self.sum_num_sq)?;
        let var_den = sample_variance(self.n, self.sum_den, self.sum_den_sq)?;
        let cov = sample_covariance(self.n, self.sum_num, self.sum_den, self.sum_num_den)?;
        let n = self.n as f64;
        let mean_den = self.sum_den / n;
        let linearised = var_num - 2.0 * ratio * cov + ratio * ratio * var_den;
        finite(linearised.max(0.0) / (n * mean_den * mean_den))
    }
}

/// Unbiased sample covariance of `x` and `y` from `Σx`, `Σy` and `Σxy` (`n − 1` normalisation).
fn sample_covariance(n: u64, sum_x: f64, sum_y: f64, sum_xy: f64) -> Option<f64> {
    if n < 2 {
        return None;
    }
    let n = n as f64;
    finite((sum_xy - sum_x * sum_y / n) / (n - 1.0))
}

/// Unbiased sample variance from `Σx` and `Σx²`, clamped at zero: it cannot be negative, and
/// the sum formula can go slightly below zero by rounding when all values are (nearly) equal.
fn sample_variance(n: u64, sum: f64, sum_sq: f64) -> Option<f64> {
    sample_covariance(n, sum, sum, sum_sq).map(|v| v.max(0.0))
}

// ---------------------------------------------------------------------------------------------
// Comparisons of a treatment arm with the control
// ---------------------------------------------------------------------------------------------

/// One metric of one treatment arm compared with the control.
///
/// The fields map one to one onto the result columns (`conversion_lift`, `conversion_ci_low`,
/// `conversion_ci_high`, `conversion_p_value`, ...). Any field the data cannot define is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Comparison {
    /// The metric in the control arm.
    pub control: Option<f64>,
    /// The metric in the treatment arm.
    pub treatment: Option<f64>,
    /// Absolute lift, `treatment − control`.
    pub lift: Option<f64>,
    /// Lower end of the confidence interval of the absolute lift.
    pub lift_ci_low: Option<f64>,
    /// Upper end of the confidence interval of the absolute lift.
    pub lift_ci_high: Option<f64>,
    /// Relative lift, `treatment / control − 1`; `None` when the control value is zero.
    pub relative_lift: Option<f64>,
    /// Lower end of the confidence interval of the relative lift.
    pub relative_ci_low: Option<f64>,
    /// Upper end of the confidence interval of the relative lift.
    pub relative_ci_high: Option<f64>,
    /// Test statistic (t for Welch, z otherwise); positive when treatment is higher.
    pub statistic: Option<f64>,
    /// Welch–Satterthwaite degrees of freedom (t-test only; `None` for the z-tests).
    pub df: Option<f64>,
    /// Two-sided p-value.
    pub p_value: Option<f64>,
}

/// A point estimate with the variance of that estimate (its squared standard error).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The estimate.
    pub value: f64,
    /// Variance of the estimate.
    pub variance: f64,
}

/// A point estimate with a two-sided confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// The point estimate.
    pub estimate: f64,
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// Welch's t-test of the difference of per-user means, `treatment − control`.
///
/// * `t = (x̄_T − x̄_C) / √(s_T²/n_T + s_C²/n_C)`
/// * Welch–Satterthwaite `df = (v_T + v_C)² / (v_T²/(n_T − 1) + v_C²/(n_C − 1))`, `v = s²/n`
/// * p-value `2 · P(T_df > |t|)`; interval `diff ± t_{df, (1+confidence)/2} · se`.
///
/// Same statistic, p-value, df and interval as
/// `scipy.stats.ttest_ind(treatment, control, equal_var=False)` and its
/// `confidence_interval(confidence)`. The relative lift uses [`relative_lift_interval`].
///
/// Undefined (`None`): means without users; variances, interval, statistic and p-value with fewer
/// than two users in an arm; statistic, df, p-value and interval when both arms have zero
/// variance (all users identical), where no inference is possible; the interval when
/// `confidence` is not strictly between 0 and 1.
pub fn welch_t_test(control: &MeanStats, treatment: &MeanStats, confidence: f64) -> Comparison {
    let mut out = point_comparison(control.mean(), treatment.mean());
    let (Some(var_c), Some(var_t)) = (control.variance_of_mean(), treatment.variance_of_mean())
    else {
        return out;
    };
    fill_relative_interval(&mut out, var_c, var_t, confidence);
    let (Some(lift), Some(se)) = (out.lift, positive_sqrt(var_c + var_t)) else {
        return out;
    };
    let Some(df) = welch_df(var_c, control.n, var_t, treatment.n) else {
        return out;
    };
    let Ok(t_dist) = StudentsT::new(0.0, 1.0, df) else {
        return out;
    };
    let statistic = lift / se;
    out.statistic = finite(statistic);
    out.df = Some(df);
    out.p_value = finite((2.0 * t_dist.sf(statistic.abs())).min(1.0));
    if let Some(critical) = critical_value(&t_dist, confidence) {
        out.lift_ci_low = finite(lift - critical * se);
        out.lift_ci_high = finite(lift + critical * se);
    }
    out
}

/// Welch–Satterthwaite degrees of freedom from the variances of the two means.
fn welch_df(var_mean_a: f64, n_a: u64, var_mean_b: f64, n_b: u64) -> Option<f64> {
    if n_a < 2 || n_b < 2 {
        return None;
    }
    let numerator = (var_mean_a + var_mean_b).powi(2);
    let denominator =
        var_mean_a.powi(2) / (n_a as f64 - 1.0) + var_mean_b.powi(2) / (n_b as f64 - 1.0);
    if denominator > 0.0 {
        finite(numerator / denominator)
    } else {
        None
    }
}

/// Two-proportion z-test of user-level conversion, `rate_T − rate_C`.
///
/// * p-value from the **pooled** standard error `√(p̄(1 − p̄)(1/n_C + 1/n_T))`,
///   `p̄ = (x_C + x_T)/(n_C + n_T)`: the test of "the rates are equal", identical to the
///   Pearson chi-squared test of the 2×2 table without continuity correction (`z² = χ²`).
/// * Interval from the **unpooled** (Wald) standard error `√(p_C(1−p_C)/n_C + p_T(1−p_T)/n_T)`,
///   because an interval for the difference must not assume the difference is zero.
/// * Relative lift via [`relative_lift_interval`] with the unpooled variances.
///
/// Undefined (`None`): everything when an arm has no users (or more successes than users); the
/// statistic and p-value when nobody or everybody converted in both arms (pooled SE zero, where
/// chi-squared has a zero expected cell too); the interval when both rates are 0 or 1.
pub fn two_proportion_z_test(
    control: &ProportionStats,
    treatment: &ProportionStats,
    confidence: f64,
) -> Comparison {
    let mut out = point_comparison(control.rate(), treatment.rate());
    let (Some(var_c), Some(var_t)) = (control.variance_of_rate(), treatment.variance_of_rate())
    else {
        return out;
    };
    fill_relative_interval(&mut out, var_c, var_t, confidence);
    let Some(lift) = out.lift else {
        return out;
    };
    if let Some(se) = pooled_proportion_se(control, treatment) {
        let statistic = lift / se;
        out.statistic = finite(statistic);
        out.p_value = normal_two_sided_p(statistic);
    }
    fill_normal_lift_interval(&mut out, lift, var_c + var_t, confidence);
    out
}

/// Standard error of the difference of two rates under the null hypothesis of equal rates.
fn pooled_proportion_se(control: &ProportionStats, treatment: &ProportionStats) -> Option<f64> {
    // Summed as f64: no integer overflow whatever the counts.
    let users = control.n as f64 + treatment.n as f64;
    let pooled = (control.successes as f64 + treatment.successes as f64) / users;
    let inverse_sizes = 1.0 / control.n as f64 + 1.0 / treatment.n as f64;
    positive_sqrt(pooled * (1.0 - pooled) * inverse_sizes)
}

/// Delta-method z-test of a ratio metric, `ratio_T − ratio_C`.
///
/// Each arm's ratio of sums gets the variance of [`RatioStats::variance_of_ratio`]; the arms are
/// independent, so `se = √(Var_T + Var_C)`, `z = diff / se`, p-value `2·Φ(−|z|)`, interval
/// `diff ± z_{(1+confidence)/2} · se`. The relative lift uses [`relative_lift_interval`].
///
/// Undefined (`None`): a ratio whose denominator sum is zero (no impressions, no orders) and
/// everything depending on it; variances with fewer than two users; the statistic, p-value and
/// interval when both variances are zero.
pub fn ratio_delta_test(
    control: &RatioStats,
    treatment: &RatioStats,
    confidence: f64,
) -> Comparison {
    let mut out = point_comparison(control.ratio(), treatment.ratio());
    let (Some(var_c), Some(var_t)) = (control.variance_of_ratio(), treatment.variance_of_ratio())
    else {
        return out;
    };
    fill_relative_interval(&mut out, var_c, var_t, confidence);
    let Some(lift) = out.lift else {
        return out;
    };
    if let Some(se) = positive_sqrt(var_c + var_t) {
        let statistic = lift / se;
        out.statistic = finite(statistic);
        out.p_value = normal_two_sided_p(statistic);
    }
    fill_normal_lift_interval(&mut out, lift, var_c + var_t, confidence);
    out
}

/// Relative lift `T / C − 1` with a delta-method confidence interval on the log scale.
///
/// For independent arms the first-order (delta method) variance of the log of the ratio of the
/// two estimates is
///
/// ```text
/// Var(ln(T / C)) ≈ Var(T) / T² + Var(C) / C²
/// ```
///
/// and the interval is `exp(ln(T/C) ± z_{(1+confidence)/2} · √Var) − 1`, using the normal
/// quantile for every metric (the delta method is an asymptotic argument). On the log scale the
/// interval never reaches below −100 %, is asymmetric as a ratio's uncertainty is, and agrees
/// with the test of the absolute difference where the samples are small: the symmetric interval
/// on the ratio itself (Deng, Knoblich & Lu 2018) gave [−226 %, +1244 %] for 3/206 vs 18/203
/// converters, whose p-value is 0.0007; this one gives [+82 %, +1935 %]. It is the Katz log
/// interval of a risk ratio. For large samples the two agree.
///
/// `None` when either value is not positive (the log is undefined: no relative interval for a
/// metric that is zero in an arm), a variance is negative, the combined variance is zero (a
/// zero-width interval would claim a certainty the data do not give), or `confidence` is not
/// strictly between 0 and 1.
pub fn relative_lift_interval(
    control: Estimate,
    treatment: Estimate,
    confidence: f64,
) -> Option<Interval> {
    let estimate = relative_lift(control.value, treatment.value)?;
    if control.variance < 0.0 || treatment.variance < 0.0 {
        return None;
    }
    if control.value <= 0.0 || treatment.value <= 0.0 {
        return None;
    }
    let log_ratio = (treatment.value / control.value).ln();
    let variance = treatment.variance / (treatment.value * treatment.value)
        + control.variance / (control.value * control.value);
    let half_width = standard_normal_critical(confidence)? * positive_sqrt(variance)?;
    Some(Interval {
        estimate,
        low: finite((log_ratio - half_width).exp() - 1.0)?,
        high: finite((log_ratio + half_width).exp() - 1.0)?,
    })
}

/// `treatment / control − 1`; `None` when the control value is zero.
fn relative_lift(control: f64, treatment: f64) -> Option<f64> {
    if control == 0.0 {
        return None;
    }
    finite(treatment / control - 1.0)
}

/// A comparison with only the point values filled in (before any variance is known).
fn point_comparison(control: Option<f64>, treatment: Option<f64>) -> Comparison {
    let (lift, relative) = match (control, treatment) {
        (Some(c), Some(t)) => (finite(t - c), relative_lift(c, t)),
        _ => (None, None),
    };
    Comparison {
        control,
        treatment,
        lift,
        relative_lift: relative,
        ..Comparison::default()
    }
}

/// Fills the relative-lift interval from the two estimate variances.
fn fill_relative_interval(out: &mut Comparison, var_c: f64, var_t: f64, confidence: f64) {
    let (Some(c), Some(t)) = (out.control, out.treatment) else {
        return;
    };
    let interval = relative_lift_interval(
        Estimate {
            value: c,
            variance: var_c,
        },
        Estimate {
            value: t,
            variance: var_t,
        },
        confidence,
    );
    if let Some(interval) = interval {
        out.relative_ci_low = Some(interval.low);
        out.relative_ci_high = Some(interval.high);
    }
}

/// Fills a normal-quantile interval `lift ± z·√variance`; left empty when the variance is zero
/// (a zero-width interval would claim certainty the data do not give).
fn fill_normal_lift_interval(out: &mut Comparison, lift: f64, variance: f64, confidence: f64) {
    let (Some(se), Some(z)) = (
        positive_sqrt(variance),
        standard_normal_critical(confidence),
    ) else {
        return;
    };
    out.lift_ci_low = finite(lift - z * se);
    out.lift_ci_high = finite(lift + z * se);
}

/// Two-sided p-value of a standard normal statistic, `2·Φ(−|z|)`, computed with the survival
/// function so that small p-values keep their relative precision.
fn normal_two_sided_p(statistic: f64) -> Option<f64> {
    if !statistic.is_finite() {
        return None;
    }
    finite((2.0 * Normal::standard().sf(statistic.abs())).min(1.0))
}

/// `z_{(1+confidence)/2}` of the standard normal.
fn standard_normal_critical(confidence: f64) -> Option<f64> {
    critical_value(&Normal::standard(), confidence)
}

/// The two-sided critical value `q_{(1+confidence)/2}` of a symmetric distribution; `None`
/// unless `0 < confidence < 1` (statrs' quantile functions panic outside `[0, 1]`).
fn critical_value<D: ContinuousCDF<f64, f64>>(dist: &D, confidence: f64) -> Option<f64> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    finite(dist.inverse_cdf(0.5 + confidence / 2.0))
}

/// `√x` for a finite `x > 0`, else `None` (a zero standard error makes a test undefined).
fn positive_sqrt(x: f64) -> Option<f64> {
    if x > 0.0 && x.is_finite() {
        Some(x.sqrt())
    } else {
        None
    }
}

/// `Some(x)` for finite `x`: the one place where `NaN` and infinities become `None` (SQL NULL).
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

// ---------------------------------------------------------------------------------------------
// Sample-ratio mismatch
// ---------------------------------------------------------------------------------------------

/// Result of the sample-ratio-mismatch check.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SrmTest {
    /// Pearson chi-squared statistic `Σ (observed − expected)² / expected`.
    pub statistic: f64,
    /// Degrees of freedom, number of arms − 1.
    pub df: u32,
    /// Upper-tail p-value of the statistic.
    pub p_value: f64,
}

impl SrmTest {
    /// `true` when the split of users differs from the weights beyond chance
    /// (`p < SRM_P_THRESHOLD`).
    pub fn is_mismatch(&self) -> bool {
        self.p_value < SRM_P_THRESHOLD
    }
}

/// Chi-squared goodness of fit of the users observed per arm against the configured weights
/// (any number of arms; weights need not sum to 1, they are normalised).
///
/// `expected_i = N · w_i / Σw`. Matches `scipy.stats.chisquare(observed, f_exp=expected)`.
///
/// `None` when the slices differ in length, there are fewer than two arms, no users at all (or a
/// total beyond `u64`), or a weight is not a positive finite number (a zero-weight arm has no expected users, and the
/// statistic would be undefined).
pub fn srm_test(observed_users: &[u64], weights: &[f64]) -> Option<SrmTest> {
    if observed_users.len() != weights.len() || observed_users.len() < 2 {
        return None;
    }
    if weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
        return None;
    }
    let total_users = observed_users
        .iter()
        .try_fold(0_u64, |total, &users| total.checked_add(users))?;
    let total_weight: f64 = weights.iter().sum();
    if total_users == 0 || !total_weight.is_finite() {
        return None;
    }
    let statistic: f64 = observed_users
        .iter()
        .zip(weights)
        .map(|(&observed, &weight)| {
            let expected = total_users as f64 * weight / total_weight;
            (observed as f64 - expected).powi(2) / expected
        })
        .sum();
    let df = u32::try_from(observed_users.len() - 1).ok()?;
    let chi2 = ChiSquared::new(f64::from(df)).ok()?;
    Some(SrmTest {
        statistic: finite(statistic)?,
        df,
        p_value: finite(chi2.sf(statistic))?,
    })
}

// ---------------------------------------------------------------------------------------------
// Sample size
// ---------------------------------------------------------------------------------------------

/// Users needed **per arm** for a two-sided two-proportion test to detect an absolute change
/// `mde` from `baseline_rate` with significance `alpha` and the given `power`.
///
/// The common (Fleiss, without continuity correction) formula, with `p₁ = baseline`,
/// `p₂ = baseline + mde`, `p̄ = (p₁ + p₂)/2`:
///
/// ```text
/// n = ( z_{1−α/2} √(2 p̄(1−p̄)) + z_{1−β} √(p₁(1−p₁) + p₂(1−p₂)) )² / mde²
/// ```
///
/// rounded up. The first term is the rejection threshold under the null (pooled variance,
/// as the test uses), the second the spread under the alternative. Example:
/// baseline 0.10, mde 0.02, α 0.05, power 0.8 → 3,840.85 → 3,841 per arm.
///
/// `mde` may be negative (a drop). `None` unless `0 < baseline < 1`, `0 < baseline + mde < 1`,
/// `mde ≠ 0`, `0 < alpha < 1` and `0 < power < 1`.
pub fn sample_size_per_arm(baseline_rate: f64, mde: f64, alpha: f64, power: f64) -> Option<u64> {
    let open_unit = |x: f64| x > 0.0 && x < 1.0;
    let p1 = baseline_rate;
    let p2 = baseline_rate + mde;
    if !(open_unit(p1) && open_unit(p2) && open_unit(alpha) && open_unit(power)) || mde == 0.0 {
        return None;
    }
    let normal = Normal::standard();
    let z_alpha = normal.inverse_cdf(1.0 - alpha / 2.0);
    let z_beta = normal.inverse_cdf(power);
    let p_bar = (p1 + p2) / 2.0;
    let null_term = z_alpha * (2.0 * p_bar * (1.0 - p_bar)).sqrt();
    let alternative_term = z_beta * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
    let n = ((null_term + alternative_term) / mde).powi(2);
    // `as` saturates; a requirement beyond u64 is "unreachable" either way.
    finite(n).map(|n| n.ceil() as u64)
}

// ---------------------------------------------------------------------------------------------
// Verdict
// ---------------------------------------------------------------------------------------------

/// What an experiment row may conclude, in order of precedence.
///
/// Rendered by [`Verdict::as_str`] as: `SRM`, `control`, `underpowered`, `better`, `worse`,
/// `no difference`. `SRM` keeps its capitals as written in the feature's specification; the
/// others are lowercase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The split of users contradicts the weights (`srm_p_value < 0.001`): the experiment is
    /// broken and nothing else on any row, control included, may be trusted.
    Srm,
    /// The control row (the first arm), which is not compared with itself.
    Control,
    /// Not enough users yet (control or this arm below the planned sample size), or the primary
    /// test is undefined for the data: no conclusion either way.
    Underpowered,
    /// Planned sample reached, significant, and the primary metric is higher than control.
    Better,
    /// Planned sample reached, significant, and the primary metric is lower than control.
    Worse,
    /// Planned sample reached and not significant: any effect is likely smaller than the MDE.
    NoDifference,
}

impl Verdict {
    /// The text shown in the `verdict` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Srm => "SRM",
            Verdict::Control => "control",
            Verdict::Underpowered => "underpowered",
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NoDifference => "no difference",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything [`verdict`] looks at for one row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VerdictInput {
    /// `true` on the control row.
    pub is_control: bool,
    /// [`SrmTest::p_value`] of the experiment (`None` when the check is undefined, e.g. one arm
    /// or no users: then no SRM is claimed).
    pub srm_p_value: Option<f64>,
    /// Users in the control arm.
    pub control_users: u64,
    /// Users in this row's arm.
    pub arm_users: u64,
    /// Planned users per arm, from [`sample_size_per_arm`] for the configured MDE, alpha and
    /// power. The SQL layer should refuse an experiment whose plan yields no sample size.
    pub required_users_per_arm: u64,
    /// p-value of the primary metric (user-level conversion) against control.
    pub p_value: Option<f64>,
    /// Absolute lift of the primary metric against control; higher is better.
    pub lift: Option<f64>,
    /// Significance level, the same `alpha` the sample size was planned with.
    pub alpha: f64,
}

/// The verdict of one row. Rules, first match wins:
///
/// 1. `SRM` when `srm_p_value < SRM_P_THRESHOLD`, on every row including the control: a broken
///    split invalidates every comparison, so it must be seen before any winner.
/// 2. `control` on the control row.
/// 3. `underpowered` while the control or this arm has fewer users than
///    `required_users_per_arm`, **even when the current p-value is below alpha**. Why: the
///    results are looked at repeatedly while the experiment runs, and stopping at the first
///    significant look inflates the false-positive rate far above alpha; the alpha guarantee
///    holds only at the planned horizon. Early significant results also exaggerate the effect
///    (winner's curse). The p-value and intervals are still reported on the row.
/// 4. `underpowered` when the primary test is undefined for the data (e.g. no conversions in
///    either arm): the data cannot support any claim.
/// 5. `better` / `worse` when `p_value < alpha`, by the sign of the lift.
/// 6. `no difference` otherwise: with the planned sample the test had the planned power at the
///    MDE, so a non-significant result says the effect is probably smaller than the MDE.
pub fn verdict(input: &VerdictInput) -> Verdict {
    if input.srm_p_value.is_some_and(|p| p < SRM_P_THRESHOLD) {
        return Verdict::Srm;
    }
    if input.is_control {
        return Verdict::Control;
    }
    let fewest_users = input.control_users.min(input.arm_users);
    if fewest_users < input.required_users_per_arm {
        return Verdict::Underpowered;
    }
    let (Some(p_value), Some(lift)) = (input.p_value, input.lift) else {
        return Verdict::Underpowered;
    };
    if p_value < input.alpha && lift > 0.0 {
        Verdict::Better
    } else if p_value < input.alpha && lift < 0.0 {
        Verdict::Worse
    } else {
        Verdict::NoDifference
    }
}

// ---------------------------------------------------------------------------------------------
// Assignment
// ---------------------------------------------------------------------------------------------

/// 64-bit FNV-1a offset basis.
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// 64-bit FNV-1a prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The key of a registered user: the 8 little-endian bytes of the id (two's complement).
pub fn user_key(user_id: i64) -> [u8; 8] {
    user_id.to_le_bytes()
}

/// The key of an anonymous visitor: the UTF-8 bytes of the caller-given visitor key, unchanged.
///
/// Users and visitors share one key space: a visitor key whose bytes equal a user key gets the
/// same bucket, which is harmless (it is just another unit hashed with the same seed).
pub fn visitor_key(visitor: &str) -> &[u8] {
    visitor.as_bytes()
}

/// The 64-bit assignment hash of `(seed, key)`; [`assignment_bucket`] reduces it.
///
/// Specification (stable: changing it would reassign every running experiment):
///
/// 1. 64-bit FNV-1a (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`, per byte
///    `h = (h ^ byte) * prime mod 2⁶⁴`) over the 8 little-endian bytes of `seed` followed by the
///    key bytes;
/// 2. the SplitMix64 finalizer: `z ^= z >> 30; z *= 0xbf58476d1ce4e5b9; z ^= z >> 27;
///    z *= 0x94d049bb133111eb; z ^= z >> 31` (all mod 2⁶⁴).
///
/// Why not Postgres' `hashtext()`: it is internal and has no stability promise across versions
/// or platforms. Why the finalizer: FNV-1a alone mixes the last bytes of short keys poorly, and
/// sequential user ids differ only in their first bytes; the finalizer spreads every input bit
/// over all output bits before the modulo. The seed goes first so different experiments split
/// the same users independently.
pub fn assignment_hash(seed: i64, key: &[u8]) -> u64 {
    let hash = fnv1a_64(FNV_OFFSET_BASIS, &seed.to_le_bytes());
    splitmix64_finalizer(fnv1a_64(hash, key))
}

/// The bucket in `0..BUCKET_COUNT` of `(seed, key)`: `assignment_hash(seed, key) % 10_000`.
///
/// The modulo bias is `2⁶⁴ mod 10⁴ / 2⁶⁴ ≈ 3·10⁻¹⁶`, irrelevant. Same on every server, in every
/// session and every version (see [`assignment_hash`]).
pub fn assignment_bucket(seed: i64, key: &[u8]) -> u32 {
    // The remainder is below 10_000, so the narrowing cast is lossless.
    (assignment_hash(seed, key) % u64::from(BUCKET_COUNT)) as u32
}

/// FNV-1a over `bytes`, continuing from `hash`.
fn fnv1a_64(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &byte| {
        (h ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// The output mix of SplitMix64 (without its state increment), a fast full-avalanche bijection.
fn splitmix64_finalizer(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Exclusive end bucket of each arm: arm `i` owns buckets `ends[i-1]..ends[i]` (arm 0 starts at
/// 0), and the last end is always `BUCKET_COUNT`.
///
/// Rounding: `ends[i] = round(10_000 · (w₀ + … + wᵢ) / Σw)` (half away from zero) on the
/// *cumulative* share, so every arm gets within one bucket of its exact share and the ranges
/// tile `0..10_000` exactly; weights `[1, 1, 1]` give ends `[3333, 6667, 10000]`. An arm whose
/// weight is zero (or rounds to an empty range) gets no buckets.
///
/// `None` for no arms, a negative or non-finite weight, or all weights zero.
pub fn arm_bucket_ends(weights: &[f64]) -> Option<Vec<u32>> {
    if weights.is_empty() || weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
        return None;
    }
    let total: f64 = weights.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    let mut cumulative = 0.0;
    let mut ends: Vec<u32> = weights
        .iter()
        .map(|w| {
            cumulative += w;
            // The share is in [0, 1] (up to rounding), so the cast cannot overflow.
            let end = (cumulative / total * f64::from(BUCKET_COUNT)).round();
            end.clamp(0.0, f64::from(BUCKET_COUNT)) as u32
        })
        .collect();
    if let Some(last) = ends.last_mut() {
        *last = BUCKET_COUNT;
    }
    Some(ends)
}

/// The arm (index into `weights`) that owns `bucket`, by [`arm_bucket_ends`].
///
/// `None` when `bucket >= BUCKET_COUNT` or the weights are invalid.
pub fn arm_for_bucket(bucket: u32, weights: &[f64]) -> Option<usize> {
    if bucket >= BUCKET_COUNT {
        return None;
    }
    let ends = arm_bucket_ends(weights)?;
    ends.iter().position(|&end| bucket < end)
}

#[cfg(test)]
mod tests {
    //! Reference values come from Python 3.11 with numpy 2.4.6 and scipy 1.17.1; each test
    //! quotes the code that printed them (`repr(float(x))`, full precision).
    //!
    //! Tolerance: [`assert_close`] is *relative*, `|actual − expected| ≤ 1e-9 · |expected|`
    //! (so small p-values are checked as strictly as large statistics).

    use super::*;
    use crate::rng::Rng;

    const TOL: f64 = 1e-9;

    #[track_caller]
    fn assert_close(actual: Option<f64>, expected: f64) {
        let actual = actual.unwrap_or_else(|| panic!("expected {expected:?}, got None"));
        let error = (actual - expected).abs();
        assert!(
            error <= TOL * expected.abs(),
            "actual {actual:?} expected {expected:?} (relative error {:e})",
            error / expected.abs()
        );
    }

    // Python set-up shared by the comments below:
    //   import numpy as np; from scipy import stats; f = lambda x: repr(float(x))
    //   ctl = [12.5, 0.0, 3.2, 8.8, 0.0, 15.1, 4.4, 0.0, 7.7, 2.2]
    //   trt = [14.0, 0.0, 9.9, 11.3, 0.0, 18.2, 6.1, 3.3, 0.0, 10.5, 5.5, 12.0]
    const CONTROL_REVENUE: [f64; 10] = [12.5, 0.0, 3.2, 8.8, 0.0, 15.1, 4.4, 0.0, 7.7, 2.2];
    const TREATMENT_REVENUE: [f64; 12] = [
        14.0, 0.0, 9.9, 11.3, 0.0, 18.2, 6.1, 3.3, 0.0, 10.5, 5.5, 12.0,
    ];

    #[test]
    fn welch_matches_scipy_ttest_ind() {
        // r = stats.ttest_ind(trt, ctl, equal_var=False); ci = r.confidence_interval(0.95)
        // print(f(r.statistic), f(r.pvalue), f(r.df), f(ci.low), f(ci.high))
        let control = MeanStats::from_values(&CONTROL_REVENUE);
        let treatment = MeanStats::from_values(&TREATMENT_REVENUE);
        let result = welch_t_test(&control, &treatment, 0.95);
        assert_close(result.statistic, 0.8914275344905429);
        assert_close(result.p_value, 0.38337991913920944);
        assert_close(result.df, 19.84702672113381);
        assert_close(result.lift_ci_low, -2.919307456423014);
        assert_close(result.lift_ci_high, 7.272640789756346);
        // f(np.mean(trt) - np.mean(ctl))
        assert_close(result.lift, 2.176666666666666);

        // ci = r.confidence_interval(0.90); print(f(ci.low), f(ci.high))
        let result90 = welch_t_test(&control, &treatment, 0.90);
        assert_close(result90.lift_ci_low, -2.036284789953158);
        assert_close(result90.lift_ci_high, 6.389618123286488);
    }

    #[test]
    fn welch_small_p_value_matches_scipy() {
        // r = stats.ttest_ind([2.0, 2.3, 1.9, 2.2, 2.05, 2.4, 1.8],
        //                     [1.0, 1.2, 0.9, 1.1, 1.05, 0.95, 1.0, 1.15], equal_var=False)
        // print(f(r.statistic), f(r.pvalue), f(r.df))
        let control = MeanStats::from_values(&[1.0, 1.2, 0.9, 1.1, 1.05, 0.95, 1.0, 1.15]);
        let treatment = MeanStats::from_values(&[2.0, 2.3, 1.9, 2.2, 2.05, 2.4, 1.8]);
        let result = welch_t_test(&control, &treatment, 0.95);
        assert_close(result.statistic, 11.724429546162769);
        assert_close(result.p_value, 1.954379306719466e-06);
        assert_close(result.df, 8.26283261608623);
    }

    #[test]
    fn relative_interval_of_a_small_control_stays_above_minus_100_percent() {
        // 3 of 206 vs 18 of 203 converted (p = 0.0007): print(*map(f, rel(3/206, ...)))
        let control = ProportionStats {
            n: 206,
            successes: 3,
        };
        let treatment = ProportionStats {
            n: 203,
            successes: 18,
        };
        let result = two_proportion_z_test(&control, &treatment, 0.95);
        assert_close(result.relative_lift, 5.088669950738916);
        assert_close(result.relative_ci_low, 0.8214719584707302);
        assert_close(result.relative_ci_high, 19.352716162677485);
        assert!(result.lift_ci_low.unwrap() > 0.0);
    }

    #[test]
    fn welch_relative_lift_matches_log_delta_formula() {
        // def rel(c, vc, t, vt, z=stats.norm.ppf(0.975)):
        //     lr = np.log(t/c); se = np.sqrt(vt/t**2 + vc/c**2)
        //     return t/c-1, np.exp(lr-z*se)-1, np.exp(lr+z*se)-1
        // c, t = np.array(ctl), np.array(trt)
        // print(*map(f, rel(c.mean(), c.var(ddof=1)/len(c), t.mean(), t.var(ddof=1)/len(t))))
        let result = welch_t_test(
            &MeanStats::from_values(&CONTROL_REVENUE),
            &MeanStats::from_values(&TREATMENT_REVENUE),
            0.95,
        );
        assert_close(result.relative_lift, 0.40383426097711794);
        assert_close(result.relative_ci_low, -0.34951953236619193);
        assert_close(result.relative_ci_high, 2.0296845644912076);
    }

    #[test]
    fn welch_edge_cases_give_none_not_panics() {
        let empty = MeanStats::default();
        let one = MeanStats::from_values(&[3.0]);
        let varied = MeanStats::from_values(&[1.0, 2.0, 3.0]);
        let constant = MeanStats::from_values(&[2.0, 2.0, 2.0, 2.0]);

        let no_users = welch_t_test(&empty, &varied, 0.95);
        assert_eq!(no_users.control, None);
        assert_eq!(no_users.lift, None);
        assert_eq!(no_users.p_value, None);

        let single_user = welch_t_test(&one, &varied, 0.95);
        assert_eq!(single_user.lift, Some(-1.0));
        assert_eq!(single_user.p_value, None);
        assert_eq!(single_user.lift_ci_low, None);

        // All users identical in both arms: no variability, no inference.
        let both_constant = welch_t_test(&constant, &constant, 0.95);
        assert_eq!(both_constant.lift, Some(0.0));
        assert_eq!(both_constant.statistic, None);
        assert_eq!(both_constant.df, None);
        assert_eq!(both_constant.p_value, None);

        // One constant arm: Welch reduces to a one-sample test, df = n − 1 of the other arm.
        let one_constant = welch_t_test(&constant, &varied, 0.95);
        assert_close(one_constant.df, 2.0);
        assert!(one_constant.p_value.is_some());

        // An invalid confidence only drops the interval.
        let bad_confidence = welch_t_test(&constant, &varied, 1.5);
        assert_eq!(bad_confidence.lift_ci_low, None);
        assert_eq!(bad_confidence.relative_ci_low, None);
        assert!(bad_confidence.p_value.is_some());

        // NaN in the data becomes None, not NaN.
        let with_nan = welch_t_test(&MeanStats::from_values(&[1.0, f64::NAN]), &varied, 0.95);
        assert_eq!(with_nan.control, None);
        assert_eq!(with_nan.p_value, None);

        // Zero control mean: relative lift undefined, absolute lift fine.
        let zeros = MeanStats::from_values(&[0.0, 0.0, 0.0]);
        let from_zero = welch_t_test(&zeros, &varied, 0.95);
        assert_eq!(from_zero.relative_lift, None);
        assert_eq!(from_zero.relative_ci_low, None);
        assert_eq!(from_zero.lift, Some(2.0));
    }

    #[test]
    fn two_proportion_matches_chi2_contingency() {
        // c = stats.chi2_contingency([[135, 1100-135], [100, 1000-100]], correction=False)
        // print(f(c.statistic), f(c.pvalue))  ->  2.7224501013788545 0.0989460287738218
        let control = ProportionStats {
            n: 1000,
            successes: 100,
        };
        let treatment = ProportionStats {
            n: 1100,
            successes: 135,
        };
        let result = two_proportion_z_test(&control, &treatment, 0.95);
        assert_close(result.p_value, 0.0989460287738218);
        assert_close(result.statistic.map(|z| z * z), 2.7224501013788545);
        assert_close(result.lift, 135.0 / 1100.0 - 0.1);

        // p1, p2 = 100/1000, 135/1100; z = stats.norm.ppf(0.975)
        // se = np.sqrt(p1*(1-p1)/1000 + p2*(1-p2)/1100); print(f(p2-p1-z*se), f(p2-p1+z*se))
        assert_close(result.lift_ci_low, -0.004137645226758739);
        assert_close(result.lift_ci_high, 0.04959219068130418);

        // print(*map(f, rel(p1, p1*(1-p1)/1000, p2, p2*(1-p2)/1100)))
        assert_close(result.relative_lift, 0.2272727272727273);
        assert_close(result.relative_ci_low, -0.03844727926892477);
        assert_close(result.relative_ci_high, 0.5664230516266076);
    }

    #[test]
    fn two_proportion_from_outcomes_counts_users() {
        let stats = ProportionStats::from_outcomes(&[true, false, true, false, false]);
        assert_eq!(stats, ProportionStats { n: 5, successes: 2 });
        assert_close(stats.rate(), 0.4);
    }

    #[test]
    fn two_proportion_edge_cases_give_none_not_panics() {
        let empty = ProportionStats::default();
        let some = ProportionStats {
            n: 100,
            successes: 10,
        };
        let none_converted = ProportionStats {
            n: 100,
            successes: 0,
        };
        let all_converted = ProportionStats {
            n: 50,
            successes: 50,
        };
        let impossible = ProportionStats {
            n: 10,
            successes: 11,
        };

        let no_users = two_proportion_z_test(&empty, &some, 0.95);
        assert_eq!(
            (no_users.control, no_users.lift, no_users.p_value),
            (None, None, None)
        );

        // Zero conversions in both arms: rates 0, test undefined (chi2 has a zero expected cell).
        let zero = two_proportion_z_test(&none_converted, &none_converted, 0.95);
        assert_eq!(zero.lift, Some(0.0));
        assert_eq!(zero.relative_lift, None);
        assert_eq!(zero.p_value, None);
        assert_eq!(zero.lift_ci_low, None);

        // Zero conversions in treatment only: everything defined.
        let dropped = two_proportion_z_test(&some, &none_converted, 0.95);
        assert_close(dropped.lift, -0.1);
        assert_close(dropped.relative_lift, -1.0);
        // f(stats.chi2_contingency([[0, 100], [10, 90]], correction=False).pvalue)
        assert_close(dropped.p_value, 0.0011768659106247386);
        assert!(dropped.lift_ci_low.is_some());
        // The Wald variance of 0/100 is zero and T² Var(C) vanishes with T = 0, so the
        // relative interval would have zero width: None rather than a false certainty.
        assert_eq!(dropped.relative_ci_low, None);

        let everyone = two_proportion_z_test(&all_converted, &all_converted, 0.95);
        assert_eq!(everyone.p_value, None);

        let broken = two_proportion_z_test(&impossible, &some, 0.95);
        assert_eq!((broken.control, broken.p_value), (None, None));
    }

    #[test]
    fn delta_method_hand_check() {
        // Two users (num, den) = (1, 2), (3, 4): μ_N = 2, μ_D = 3, σ_N² = σ_D² = σ_ND = 2 (n−1),
        // Var(R) = (1/2)(2/9 − 2·2·2/27 + 4·2/81) = (1/2)(18 − 24 + 8)/81 = 1/81.
        // numpy: f(delta_var([1, 3], [2, 4])) -> 0.012345679012345678, see the CTR test.
        let stats = RatioStats::from_pairs(&[(1.0, 2.0), (3.0, 4.0)]);
        assert_close(stats.ratio(), 2.0 / 3.0);
        assert_close(stats.variance_of_ratio(), 1.0 / 81.0);
        assert_close(stats.variance_of_ratio(), 0.012345679012345678);
    }

    /// Clicks / impressions per user, as (clicks, impressions).
    fn ctr_pairs(clicks: &[f64], impressions: &[f64]) -> Vec<(f64, f64)> {
        clicks
            .iter()
            .copied()
            .zip(impressions.iter().copied())
            .collect()
    }

    #[test]
    fn delta_method_ctr_matches_numpy() {
        // def delta_var(num, den):
        //     num, den = np.array(num, float), np.array(den, float)
        //     n = len(num); mn, md = num.mean(), den.mean()
        //     vn = num.var(ddof=1); vd = den.var(ddof=1); cnd = np.cov(num, den, ddof=1)[0, 1]
        //     return (vn/md**2 - 2*mn*cnd/md**3 + mn**2*vd/md**4)/n
        // ci = [3,5,2,8,1,4,6]; cc = [1,0,1,3,0,2,2]; ti = [2,6,3,7,5,4]; tc = [1,2,0,3,2,2]
        // rc, rt = sum(cc)/sum(ci), sum(tc)/sum(ti)
        // vc, vt = delta_var(cc, ci), delta_var(tc, ti)
        // se = np.sqrt(vc+vt); zst = (rt-rc)/se; z975 = stats.norm.ppf(0.975)
        // print(f(rc), f(vc), f(rt), f(vt))
        // print(f(zst), f(2*stats.norm.sf(abs(zst))), f(rt-rc-z975*se), f(rt-rc+z975*se))
        // print(*map(f, rel(rc, vc, rt, vt)))
        let control = RatioStats::from_pairs(&ctr_pairs(
            &[1.0, 0.0, 1.0, 3.0, 0.0, 2.0, 2.0],
            &[3.0, 5.0, 2.0, 8.0, 1.0, 4.0, 6.0],
        ));
        let treatment = RatioStats::from_pairs(&ctr_pairs(
            &[1.0, 2.0, 0.0, 3.0, 2.0, 2.0],
            &[2.0, 6.0, 3.0, 7.0, 5.0, 4.0],
        ));
        assert_close(control.ratio(), 0.3103448275862069);
        assert_close(control.variance_of_ratio(), 0.004875949822866253);
        assert_close(treatment.ratio(), 0.37037037037037035);
        assert_close(treatment.variance_of_ratio(), 0.00297605943086815);

        let result = ratio_delta_test(&control, &treatment, 0.95);
        assert_close(result.statistic, 0.6774007833067435);
        assert_close(result.p_value, 0.4981517014877147);
        assert_close(result.lift_ci_low, -0.11364993103966095);
        assert_close(result.lift_ci_high, 0.23370101660798784);
        assert_close(result.relative_lift, 0.1934156378600822);
        assert_close(result.relative_ci_low, -0.29549888559292015);
        assert_close(result.relative_ci_high, 1.0216304212487333);
        assert_eq!(result.df, None);
    }

    #[test]
    fn delta_method_aov_counts_users_without_orders() {
        // crev = [0, 50.0, 120.5, 0, 30.0, 80.0]; cord = [0, 1, 2, 0, 1, 1]
        // trev = [45.0, 0, 200.0, 60.0, 0];      tord = [1, 0, 3, 1, 0]
        // (same code as the CTR test with these inputs)
        let control = RatioStats::from_pairs(&ctr_pairs(
            &[0.0, 50.0, 120.5, 0.0, 30.0, 80.0],
            &[0.0, 1.0, 2.0, 0.0, 1.0, 1.0],
        ));
        let treatment = RatioStats::from_pairs(&ctr_pairs(
            &[45.0, 0.0, 200.0, 60.0, 0.0],
            &[1.0, 0.0, 3.0, 1.0, 0.0],
        ));
        assert_close(control.ratio(), 56.1);
        assert_close(control.variance_of_ratio(), 65.20896);
        assert_close(treatment.ratio(), 61.0);
        assert_close(treatment.variance_of_ratio(), 27.3);
        let result = ratio_delta_test(&control, &treatment, 0.95);
        assert_close(result.statistic, 0.5094530665580951);
        assert_close(result.p_value, 0.610434687906896);
        assert_close(result.lift_ci_low, -13.95124294006207);
        assert_close(result.lift_ci_high, 23.751242940062067);
    }

    #[test]
    fn delta_method_edge_cases_give_none_not_panics() {
        let no_impressions = RatioStats::from_pairs(&[(0.0, 0.0), (0.0, 0.0)]);
        let normal = RatioStats::from_pairs(&[(1.0, 2.0), (3.0, 4.0), (0.0, 1.0)]);
        assert_eq!(no_impressions.ratio(), None);
        assert_eq!(no_impressions.variance_of_ratio(), None);
        let result = ratio_delta_test(&no_impressions, &normal, 0.95);
        assert_eq!(
            (result.control, result.lift, result.p_value),
            (None, None, None)
        );
        assert!(result.treatment.is_some());

        let one_user = RatioStats::from_pairs(&[(1.0, 2.0)]);
        assert_close(one_user.ratio(), 0.5);
        assert_eq!(one_user.variance_of_ratio(), None);
        assert_eq!(ratio_delta_test(&one_user, &normal, 0.95).p_value, None);

        let empty = RatioStats::default();
        assert_eq!(
            ratio_delta_test(&empty, &empty, 0.95),
            Comparison::default()
        );

        // Every user with the same CTR: zero variance of the ratio, test undefined.
        let proportional = RatioStats::from_pairs(&[(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]);
        assert_close(proportional.variance_of_ratio().map(|v| v + 1.0), 1.0);
        let flat = ratio_delta_test(&proportional, &proportional, 0.95);
        assert_eq!(flat.lift, Some(0.0));
        assert_eq!((flat.p_value, flat.lift_ci_low), (None, None));
    }

    #[test]
    fn srm_matches_scipy_chisquare() {
        // print(*map(f, stats.chisquare([5050, 4950], f_exp=[5000, 5000])))
        let two = srm_test(&[5050, 4950], &[0.5, 0.5]).expect("defined");
        assert_close(Some(two.statistic), 1.0);
        assert_close(Some(two.p_value), 0.31731050786291115);
        assert_eq!(two.df, 1);
        assert!(!two.is_mismatch());

        // print(*map(f, stats.chisquare([2100, 2950, 4950], f_exp=[2000.0, 3000.0, 5000.0])))
        let three = srm_test(&[2100, 2950, 4950], &[0.2, 0.3, 0.5]).expect("defined");
        assert_close(Some(three.statistic), 6.333333333333333);
        assert_close(Some(three.p_value), 0.042143843509276406);
        assert_eq!(three.df, 2);

        // Unnormalised weights 1:2:3.
        // print(*map(f, stats.chisquare([7, 13, 30], f_exp=50*np.array([1, 2, 3])/6)))
        let weighted = srm_test(&[7, 13, 30], &[1.0, 2.0, 3.0]).expect("defined");
        assert_close(Some(weighted.statistic), 2.0200000000000005);
        assert_close(Some(weighted.p_value), 0.3642189795715233);

        // print(*map(f, stats.chisquare([5200, 4800], f_exp=[5000, 5000])))
        let broken = srm_test(&[5200, 4800], &[1.0, 1.0]).expect("defined");
        assert_close(Some(broken.statistic), 16.0);
        assert_close(Some(broken.p_value), 6.334248366623988e-05);
        assert!(broken.is_mismatch());
    }

    #[test]
    fn srm_invalid_inputs_give_none() {
        assert_eq!(srm_test(&[10], &[1.0]), None);
        assert_eq!(srm_test(&[10, 10], &[1.0]), None);
        assert_eq!(srm_test(&[0, 0], &[1.0, 1.0]), None);
        assert_eq!(srm_test(&[10, 10], &[1.0, 0.0]), None);
        assert_eq!(srm_test(&[10, 10], &[1.0, -1.0]), None);
        assert_eq!(srm_test(&[10, 10], &[1.0, f64::NAN]), None);
        assert_eq!(srm_test(&[], &[]), None);
        // All users in one arm is a defined (and glaring) mismatch.
        assert!(srm_test(&[1000, 0], &[1.0, 1.0]).is_some_and(|t| t.is_mismatch()));
    }

    #[test]
    fn sample_size_matches_hand_computation() {
        // def n_per_arm(p1, d, alpha, power):
        //     p2 = p1 + d; pb = (p1+p2)/2
        //     za = stats.norm.ppf(1-alpha/2); zb = stats.norm.ppf(power)
        //     return (za*np.sqrt(2*pb*(1-pb)) + zb*np.sqrt(p1*(1-p1)+p2*(1-p2)))**2 / d**2
        // f(n_per_arm(0.10, 0.02, 0.05, 0.8))  -> 3840.847482436272
        // f(n_per_arm(0.10, 0.03, 0.05, 0.8))  -> 1773.9755734331443
        // f(n_per_arm(0.05, 0.01, 0.01, 0.9))  -> 15464.651047663943
        // f(n_per_arm(0.5, -0.05, 0.05, 0.8))  -> 1564.6720527749524
        // By hand for the first: p̄ = 0.11, 1.959964·√0.1958 = 0.867270,
        // 0.841621·√0.1956 = 0.372222, (1.239492)² / 0.0004 = 3840.8.
        assert_eq!(sample_size_per_arm(0.10, 0.02, 0.05, 0.8), Some(3841));
        assert_eq!(sample_size_per_arm(0.10, 0.03, 0.05, 0.8), Some(1774));
        assert_eq!(sample_size_per_arm(0.05, 0.01, 0.01, 0.9), Some(15465));
        assert_eq!(sample_size_per_arm(0.5, -0.05, 0.05, 0.8), Some(1565));
    }

    #[test]
    fn sample_size_invalid_inputs_give_none() {
        assert_eq!(sample_size_per_arm(0.0, 0.02, 0.05, 0.8), None);
        assert_eq!(sample_size_per_arm(0.10, 0.0, 0.05, 0.8), None);
        assert_eq!(sample_size_per_arm(0.95, 0.1, 0.05, 0.8), None);
        assert_eq!(sample_size_per_arm(0.10, 0.02, 0.0, 0.8), None);
        assert_eq!(sample_size_per_arm(0.10, 0.02, 0.05, 1.0), None);
        assert_eq!(sample_size_per_arm(f64::NAN, 0.02, 0.05, 0.8), None);
    }

    fn powered_significant_treatment() -> VerdictInput {
        VerdictInput {
            is_control: false,
            srm_p_value: Some(0.5),
            control_users: 5000,
            arm_users: 5000,
            required_users_per_arm: 3841,
            p_value: Some(0.01),
            lift: Some(0.02),
            alpha: 0.05,
        }
    }

    #[test]
    fn verdict_rules_in_order_of_precedence() {
        let base = powered_significant_treatment();
        assert_eq!(verdict(&base), Verdict::Better);
        let lower = VerdictInput {
            lift: Some(-0.02),
            ..base
        };
        assert_eq!(verdict(&lower), Verdict::Worse);
        let not_significant = VerdictInput {
            p_value: Some(0.2),
            ..base
        };
        assert_eq!(verdict(&not_significant), Verdict::NoDifference);
        let control_row = VerdictInput {
            is_control: true,
            ..base
        };
        assert_eq!(verdict(&control_row), Verdict::Control);

        // SRM beats everything, the control row included.
        let srm = VerdictInput {
            srm_p_value: Some(0.0009),
            ..base
        };
        assert_eq!(verdict(&srm), Verdict::Srm);
        assert_eq!(
            verdict(&VerdictInput {
                is_control: true,
                ..srm
            }),
            Verdict::Srm
        );
        // Exactly at the threshold is not flagged; undefined SRM is not flagged.
        let at_threshold = VerdictInput {
            srm_p_value: Some(SRM_P_THRESHOLD),
            ..base
        };
        assert_eq!(verdict(&at_threshold), Verdict::Better);
        let no_srm = VerdictInput {
            srm_p_value: None,
            ..base
        };
        assert_eq!(verdict(&no_srm), Verdict::Better);

        // Below the planned sample in either arm: underpowered even though p < alpha.
        let small_arm = VerdictInput {
            arm_users: 3840,
            ..base
        };
        assert_eq!(verdict(&small_arm), Verdict::Underpowered);
        let small_control = VerdictInput {
            control_users: 100,
            ..base
        };
        assert_eq!(verdict(&small_control), Verdict::Underpowered);
        let at_plan = VerdictInput {
            control_users: 3841,
            arm_users: 3841,
            ..base
        };
        assert_eq!(verdict(&at_plan), Verdict::Better);

        // Undefined primary test with the full sample (e.g. no conversions at all).
        let undefined = VerdictInput {
            p_value: None,
            ..base
        };
        assert_eq!(verdict(&undefined), Verdict::Underpowered);
    }

    #[test]
    fn verdict_text() {
        let texts: Vec<&str> = [
            Verdict::Srm,
            Verdict::Control,
            Verdict::Underpowered,
            Verdict::Better,
            Verdict::Worse,
            Verdict::NoDifference,
        ]
        .iter()
        .map(|v| v.as_str())
        .collect();
        assert_eq!(
            texts,
            [
                "SRM",
                "control",
                "underpowered",
                "better",
                "worse",
                "no difference"
            ]
        );
        assert_eq!(Verdict::NoDifference.to_string(), "no difference");
    }

    #[test]
    fn assignment_hash_reference_values() {
        // Independent Python re-implementation:
        //   M = (1 << 64) - 1
        //   def h64(seed, key):
        //       h = 0xcbf29ce484222325
        //       for b in seed.to_bytes(8, 'little', signed=True) + key:
        //           h = ((h ^ b) * 0x100000001b3) & M
        //       z = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & M
        //       z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        //       return z ^ (z >> 31)
        //   bucket = lambda seed, key: h64(seed, key) % 10000
        //   uk = lambda u: u.to_bytes(8, 'little', signed=True)
        //   hex(h64(42, uk(1))), hex(h64(0, b""))  -> 0x74cb55fd40ecaac8 0x813f0174a2367c13
        assert_eq!(assignment_hash(42, &user_key(1)), 0x74cb_55fd_40ec_aac8);
        assert_eq!(assignment_hash(0, b""), 0x813f_0174_a236_7c13);
        // bucket(s, k) for each case below
        let cases: [(i64, &[u8], u32); 8] = [
            (0, b"", 8883),
            (42, &user_key(1), 2632),
            (42, &user_key(2), 259),
            (42, &user_key(-7), 928),
            (7, &user_key(1), 1282),
            (-1, &user_key(i64::MAX), 5556),
            (2024, visitor_key("visitor-abc"), 5467),
            (2024, visitor_key("café-ü"), 1244),
        ];
        for (seed, key, expected) in cases {
            assert_eq!(
                assignment_bucket(seed, key),
                expected,
                "seed {seed} key {key:?}"
            );
        }
    }

    #[test]
    fn user_key_is_little_endian() {
        assert_eq!(user_key(1), [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(user_key(-1), [0xff; 8]);
        assert_eq!(user_key(0x0102_0304_0506_0708), [8, 7, 6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn arm_bucket_ends_round_cumulative_shares() {
        assert_eq!(arm_bucket_ends(&[1.0, 1.0]), Some(vec![5000, 10000]));
        assert_eq!(
            arm_bucket_ends(&[1.0, 1.0, 1.0]),
            Some(vec![3333, 6667, 10000])
        );
        assert_eq!(
            arm_bucket_ends(&[0.2, 0.3, 0.5]),
            Some(vec![2000, 5000, 10000])
        );
        assert_eq!(
            arm_bucket_ends(&[1.0, 0.0, 1.0]),
            Some(vec![5000, 5000, 10000])
        );
        assert_eq!(arm_bucket_ends(&[7.0]), Some(vec![10000]));
        assert_eq!(arm_bucket_ends(&[]), None);
        assert_eq!(arm_bucket_ends(&[0.0, 0.0]), None);
        assert_eq!(arm_bucket_ends(&[1.0, -0.5]), None);
        assert_eq!(arm_bucket_ends(&[1.0, f64::INFINITY]), None);
    }

    #[test]
    fn arm_for_bucket_boundaries() {
        let thirds = [1.0, 1.0, 1.0];
        assert_eq!(arm_for_bucket(0, &thirds), Some(0));
        assert_eq!(arm_for_bucket(3332, &thirds), Some(0));
        assert_eq!(arm_for_bucket(3333, &thirds), Some(1));
        assert_eq!(arm_for_bucket(6667, &thirds), Some(2));
        assert_eq!(arm_for_bucket(9999, &thirds), Some(2));
        assert_eq!(arm_for_bucket(10_000, &thirds), None);
        // A zero-weight arm is never chosen.
        assert!((0..BUCKET_COUNT).all(|b| arm_for_bucket(b, &[1.0, 0.0, 1.0]) != Some(1)));
        assert_eq!(arm_for_bucket(5, &[]), None);
    }

    #[test]
    fn arm_shares_over_100k_users_follow_weights() {
        for (seed, weights) in [(42_i64, vec![0.5, 0.5]), (7, vec![0.2, 0.3, 0.5])] {
            let mut counts = vec![0_u64; weights.len()];
            for user_id in 1..=100_000_i64 {
                let bucket = assignment_bucket(seed, &user_key(user_id));
                let arm = arm_for_bucket(bucket, &weights).expect("valid weights");
                counts[arm] += 1;
            }
            for (count, weight) in counts.iter().zip(&weights) {
                let share = *count as f64 / 100_000.0;
                assert!(
                    (share - weight).abs() < 0.01,
                    "share {share} weight {weight}"
                );
            }
            // And the split passes the SRM check it will be subjected to.
            let srm = srm_test(&counts, &weights).expect("defined");
            assert!(!srm.is_mismatch(), "{counts:?} {srm:?}");
        }
    }

    #[test]
    fn assignment_differs_between_experiments() {
        // The seed must decorrelate experiments: the same users land in unrelated buckets.
        let same = (1..=10_000_i64)
            .filter(|&u| {
                assignment_bucket(1, &user_key(u)) % 2 == assignment_bucket(2, &user_key(u)) % 2
            })
            .count();
        assert!((4_800..=5_200).contains(&same), "{same}");
    }

    /// Users of one arm with a Bernoulli(rate) conversion each.
    fn simulate_conversions(rng: &mut Rng, users: u64, rate: f64) -> ProportionStats {
        let successes = (0..users).filter(|_| rng.next_f64() < rate).count() as u64;
        ProportionStats {
            n: users,
            successes,
        }
    }

    #[test]
    fn aa_conversion_false_positive_rate_is_nominal() {
        let mut rng = Rng::new(20_240_501);
        let experiments = 400;
        let false_positives = (0..experiments)
            .filter(|_| {
                let a = simulate_conversions(&mut rng, 2000, 0.1);
                let b = simulate_conversions(&mut rng, 2000, 0.1);
                two_proportion_z_test(&a, &b, 0.95)
                    .p_value
                    .is_some_and(|p| p < 0.05)
            })
            .count();
        let rate = false_positives as f64 / experiments as f64;
        assert!((0.02..=0.08).contains(&rate), "A/A rejection rate {rate}");
    }

    #[test]
    fn planted_conversion_lift_is_detected() {
        let detected = (0..100_u64)
            .filter(|&seed| {
                let mut rng = Rng::new(seed);
                let control = simulate_conversions(&mut rng, 4000, 0.10);
                let treatment = simulate_conversions(&mut rng, 4000, 0.13);
                let result = two_proportion_z_test(&control, &treatment, 0.95);
                result.p_value.is_some_and(|p| p < 0.05) && result.lift.is_some_and(|l| l > 0.0)
            })
            .count();
        assert!(detected >= 80, "detected in {detected} of 100");
    }

    /// Revenue per user: 10% buy, spending an exponential amount with mean 50 (heavily skewed).
    fn simulate_revenue(rng: &mut Rng, users: u64) -> MeanStats {
        let mut stats = MeanStats::default();
        for _ in 0..users {
            let revenue = if rng.next_f64() < 0.1 {
                -50.0 * (1.0 - rng.next_f64()).ln()
            } else {
                0.0
            };
            stats.add(revenue);
        }
        stats
    }

    #[test]
    fn aa_welch_false_positive_rate_is_nominal_on_skewed_revenue() {
        let mut rng = Rng::new(77);
        let experiments = 400;
        let false_positives = (0..experiments)
            .filter(|_| {
                let a = simulate_revenue(&mut rng, 2000);
                let b = simulate_revenue(&mut rng, 2000);
                welch_t_test(&a, &b, 0.95).p_value.is_some_and(|p| p < 0.05)
            })
            .count();
        let rate = false_positives as f64 / experiments as f64;
        assert!((0.02..=0.08).contains(&rate), "A/A rejection rate {rate}");
    }

    /// Impressions and clicks of one arm. Users differ a lot in click propensity (30% are
    /// "clickers" at 0.4, the rest at 0.05), so one user's impressions are correlated.
    fn simulate_ctr(rng: &mut Rng, users: u64) -> (RatioStats, ProportionStats) {
        let mut per_user = RatioStats::default();
        let mut per_impression = ProportionStats::default();
        for _ in 0..users {
            let impressions = 1 + rng.below(19);
            let propensity = if rng.next_f64() < 0.3 { 0.4 } else { 0.05 };
            let clicks = (0..impressions)
                .filter(|_| rng.next_f64() < propensity)
                .count() as u64;
            per_user.add(clicks as f64, impressions as f64);
            per_impression.n += impressions;
            per_impression.successes += clicks;
        }
        (per_user, per_impression)
    }

    #[test]
    fn aa_delta_method_is_calibrated_where_naive_binomial_is_not() {
        let mut rng = Rng::new(4242);
        let experiments = 400;
        let (mut delta_rejections, mut naive_rejections) = (0, 0);
        for _ in 0..experiments {
            let (a_users, a_impressions) = simulate_ctr(&mut rng, 1000);
            let (b_users, b_impressions) = simulate_ctr(&mut rng, 1000);
            let significant = |p: Option<f64>| p.is_some_and(|p| p < 0.05);
            if significant(ratio_delta_test(&a_users, &b_users, 0.95).p_value) {
                delta_rejections += 1;
            }
            // Wrong on purpose: impressions treated as independent trials.
            if significant(two_proportion_z_test(&a_impressions, &b_impressions, 0.95).p_value) {
                naive_rejections += 1;
            }
        }
        let delta_rate = delta_rejections as f64 / experiments as f64;
        let naive_rate = naive_rejections as f64 / experiments as f64;
        assert!(
            (0.02..=0.08).contains(&delta_rate),
            "delta A/A rate {delta_rate}"
        );
        assert!(naive_rate > 0.12, "naive A/A rate {naive_rate}");
    }
}
