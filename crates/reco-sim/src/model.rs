//! The shopper model (pure, no database): position bias, click and purchase probabilities, and
//! the daily draw of visitors. The crate documentation (main.rs) states the assumptions.

use reco_datagen::catalog::P_PRIMARY_TYPE;
use reco_datagen::rng::Rng;

/// Parameters of the click and purchase model (flags of reco-simulate).
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Click probability of a shoe at position 1 whose relative affinity is 1.
    pub base_ctr: f64,
    /// Position bias: a shoe at position p is examined with probability p^-position_decay.
    pub position_decay: f64,
    /// Click appeal of a shoe: relative affinity ^ affinity_exponent.
    pub affinity_exponent: f64,
    /// Purchase probability after a click, at relative affinity 0 ...
    pub buy_min: f64,
    /// ... and at relative affinity 1 (linear in between).
    pub buy_max: f64,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            base_ctr: 0.15,
            position_decay: 0.7,
            affinity_exponent: 1.0,
            buy_min: 0.02,
            buy_max: 0.25,
        }
    }
}

/// What a shopper did with one shown shoe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Outcome {
    pub click: bool,
    pub purchase: bool,
}

impl Model {
    /// Probability that position `pos` (1-based) is looked at: pos^-position_decay (1 at the top).
    pub fn position_bias(&self, pos: u32) -> f64 {
        (pos.max(1) as f64).powf(-self.position_decay)
    }

    /// reco_datagen::gen::affinity() scaled to [0, 1] by its scale P_PRIMARY_TYPE (0.70: a shoe
    /// of the primary type that every taste source contains).
    pub fn relative(affinity: f64) -> f64 {
        (affinity / P_PRIMARY_TYPE).clamp(0.0, 1.0)
    }

    /// P(click) = base_ctr x position_bias(pos) x relative(affinity)^affinity_exponent.
    pub fn p_click(&self, pos: u32, affinity: f64) -> f64 {
        let appeal = Self::relative(affinity).powf(self.affinity_exponent);
        (self.base_ctr * self.position_bias(pos) * appeal).clamp(0.0, 1.0)
    }

    /// P(purchase | click) = buy_min + (buy_max - buy_min) x relative(affinity).
    pub fn p_purchase(&self, affinity: f64) -> f64 {
        let r = Self::relative(affinity);
        (self.buy_min + (self.buy_max - self.buy_min) * r).clamp(0.0, 1.0)
    }

    /// Draws the outcome of one shown shoe. Always consumes two uniforms (click, purchase), so a
    /// visit's stream stays aligned position by position whatever the earlier outcomes were.
    pub fn draw(&self, pos: u32, affinity: f64, rng: &mut Rng) -> Outcome {
        let (u_click, u_buy) = (rng.f64(), rng.f64());
        let click = u_click < self.p_click(pos, affinity);
        Outcome {
            click,
            purchase: click && u_buy < self.p_purchase(affinity),
        }
    }

    /// Checks the parameters (probabilities in [0, 1], buy_min <= buy_max, exponents >= 0).
    pub fn validate(&self) -> Result<(), String> {
        let unit = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} must be in [0, 1], got {v}"))
            }
        };
        unit("--base-ctr", self.base_ctr)?;
        unit("--buy-min", self.buy_min)?;
        unit("--buy-max", self.buy_max)?;
        if self.buy_min > self.buy_max {
            return Err(format!(
                "--buy-min ({}) must not exceed --buy-max ({})",
                self.buy_min, self.buy_max
            ));
        }
        for (name, v) in [
            ("--position-decay", self.position_decay),
            ("--affinity-exponent", self.affinity_exponent),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} must be a finite number >= 0, got {v}"));
            }
        }
        Ok(())
    }
}

/// How likely a user is to be one of the day's visitors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weighting {
    /// Every user alike.
    Uniform,
    /// Proportional to 1 + the user's number of generated interactions (active shoppers come
    /// back more often; users without history still visit).
    Activity,
}

/// Draws `k` distinct visitors (indexes into `weights`) with probability proportional to their
/// weight, by Efraimidis-Spirakis sampling without replacement: every index gets the key
/// ln(u) / w (u uniform in (0, 1]), the k largest keys win. All of them when k >= the number of
/// positive weights. The result is in key order, which is a random order: the day's visit order.
pub fn sample_visitors(weights: &[f64], k: usize, rng: &mut Rng) -> Vec<usize> {
    let mut keyed: Vec<(f64, usize)> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let u = 1.0 - rng.f64(); // (0, 1]
            (
                if w > 0.0 {
                    u.ln() / w
                } else {
                    f64::NEG_INFINITY
                },
                i,
            )
        })
        .filter(|(key, _)| *key > f64::NEG_INFINITY)
        .collect();
    let by_key_desc = |a: &(f64, usize), b: &(f64, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if k < keyed.len() {
        if k == 0 {
            return Vec::new();
        }
        keyed.select_nth_unstable_by(k - 1, by_key_desc);
        keyed.truncate(k);
    }
    keyed.sort_unstable_by(by_key_desc);
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// The visitor weights of `n_inter` (interactions per user, in user order).
pub fn visitor_weights(n_inter: impl Iterator<Item = u32>, weighting: Weighting) -> Vec<f64> {
    n_inter
        .map(|n| match weighting {
            Weighting::Uniform => 1.0,
            Weighting::Activity => 1.0 + n as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities() {
        let m = Model::default();
        assert_eq!(m.position_bias(1), 1.0);
        assert!((m.position_bias(10) - 10f64.powf(-0.7)).abs() < 1e-12);
        assert!((1..10).all(|p| m.position_bias(p) > m.position_bias(p + 1)));
        // A perfect match at the top clicks with base_ctr; relative affinity saturates at 1.
        assert!((m.p_click(1, P_PRIMARY_TYPE) - 0.15).abs() < 1e-12);
        assert!((m.p_click(1, 0.9) - 0.15).abs() < 1e-12);
        assert_eq!(m.p_click(1, 0.0), 0.0);
        // Rising in affinity, falling in position.
        assert!(m.p_click(1, 0.3) > m.p_click(1, 0.1));
        assert!(m.p_click(2, 0.3) < m.p_click(1, 0.3));
        assert!((m.p_purchase(0.0) - 0.02).abs() < 1e-12);
        assert!((m.p_purchase(P_PRIMARY_TYPE) - 0.25).abs() < 1e-12);
        assert!((m.p_purchase(0.35) - (0.02 + 0.23 * 0.5)).abs() < 1e-12);
        let steep = Model {
            affinity_exponent: 2.0,
            ..Model::default()
        };
        assert!((steep.p_click(1, 0.35) - 0.15 * 0.25).abs() < 1e-12);
        assert!(Model::default().validate().is_ok());
        assert!(Model {
            buy_min: 0.5,
            buy_max: 0.4,
            ..Model::default()
        }
        .validate()
        .is_err());
        assert!(Model {
            base_ctr: 1.5,
            ..Model::default()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn draw_frequencies_match_the_probabilities() {
        let m = Model::default();
        let mut rng = Rng::new(7, 99, 0);
        let n = 200_000;
        let (mut clicks, mut buys) = (0u32, 0u32);
        for _ in 0..n {
            let o = m.draw(1, 0.49, &mut rng);
            assert!(o.click || !o.purchase);
            clicks += u32::from(o.click);
            buys += u32::from(o.purchase);
        }
        let (pc, pb) = (m.p_click(1, 0.49), m.p_click(1, 0.49) * m.p_purchase(0.49));
        let f = |x: u32| x as f64 / n as f64;
        assert!(
            (f(clicks) - pc).abs() < 4.0 * (pc / n as f64).sqrt(),
            "{}",
            f(clicks)
        );
        assert!(
            (f(buys) - pb).abs() < 4.0 * (pb / n as f64).sqrt(),
            "{}",
            f(buys)
        );
    }

    #[test]
    fn visitor_sampling() {
        let w = visitor_weights([0u32, 0, 9, 99, 0].into_iter(), Weighting::Activity);
        assert_eq!(w, vec![1.0, 1.0, 10.0, 100.0, 1.0]);
        assert_eq!(
            visitor_weights([5u32, 0].into_iter(), Weighting::Uniform),
            vec![1.0, 1.0]
        );
        let mut rng = Rng::new(1, 2, 3);
        // Distinct, deterministic, k of them; everyone when k is large; none for k = 0.
        let a = sample_visitors(&w, 3, &mut rng);
        assert_eq!(a.len(), 3);
        let mut d = a.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 3);
        assert_eq!(a, sample_visitors(&w, 3, &mut Rng::new(1, 2, 3)));
        let mut all = sample_visitors(&w, 10, &mut rng);
        all.sort();
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
        assert!(sample_visitors(&w, 0, &mut rng).is_empty());
        // Zero weights never visit.
        assert_eq!(sample_visitors(&[0.0, 2.0, 0.0], 3, &mut rng), vec![1]);
        // Inclusion frequency rises with weight: the weight-100 user is almost always in a
        // sample of 2, the weight-1 users rarely.
        let mut count = [0u32; 5];
        for _ in 0..2000 {
            for i in sample_visitors(&w, 2, &mut rng) {
                count[i] += 1;
            }
        }
        assert!(count[3] > 1950, "{count:?}");
        assert!(count[2] > count[0] * 3, "{count:?}");
        assert_eq!(count.iter().sum::<u32>(), 4000);
    }
}
