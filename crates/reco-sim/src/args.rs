//! Command line of reco-simulate.

use crate::model::{Model, Weighting};
use reco_datagen::gen::{tier_by_name, Tier};

pub const USAGE: &str = "usage: reco-simulate [CONNINFO] [options]
  CONNINFO               libpq-style connection string or URL ('host=/tmp port=55800 dbname=shop',
                         'postgresql://user@localhost/shop'); missing parts from PGHOST, PGPORT,
                         PGUSER, PGDATABASE, PGPASSWORD (defaults: /var/run/postgresql, 5432, $USER)
  --tier small|M|L       the synthetic data loaded in the database (default small)
  --seed N               its seed (default 42, as scripts/load_tier.sh)
  --days N               simulated days (default 7)
  --visitors-per-day N   distinct users visiting per day (default 200)
  --visitors uniform|activity
                         who visits: every user alike, or weight 1 + interactions (default activity)
  --placement P          serve()'s placement (default home)
  --k N                  shoes per list (default 10)
  --seed-sim N           the simulation's own seed (default 1)
  --experiment NAME      create (assignment seed from --seed-sim) and start a popularity vs hybrid
                         experiment, 50/50, on the placement if it does not exist yet
  --results              print reco.experiment_results(NAME) at the end (needs --experiment)
  --base-ctr X           click probability at position 1 for a perfect match (default 0.15)
  --position-decay X     examination probability at position p: p^-X (default 0.7)
  --affinity-exponent X  click appeal: relative affinity^X (default 1)
  --buy-min X            P(purchase | click) at relative affinity 0 (default 0.02)
  --buy-max X            ... at relative affinity 1 (default 0.25)
  --sync-commit          keep synchronous_commit on (default: off for this session)
  --quiet                no progress lines";

#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub conninfo: Option<String>,
    pub tier: Tier,
    pub seed: u64,
    pub days: u32,
    pub visitors_per_day: usize,
    pub weighting: Weighting,
    pub placement: String,
    pub k: i32,
    pub seed_sim: u64,
    pub experiment: Option<String>,
    pub results: bool,
    pub model: Model,
    pub sync_commit: bool,
    pub quiet: bool,
}

/// Parses the arguments (without the program name). Err("") asks for the usage (--help).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut o = Options {
        conninfo: None,
        tier: tier_by_name("small").expect("tier small"),
        seed: 42,
        days: 7,
        visitors_per_day: 200,
        weighting: Weighting::Activity,
        placement: "home".into(),
        k: 10,
        seed_sim: 1,
        experiment: None,
        results: false,
        model: Model::default(),
        sync_commit: false,
        quiet: false,
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut val = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or(format!("{key} needs a value"))
        };
        fn num<T: std::str::FromStr>(key: &str, v: String) -> Result<T, String> {
            v.parse().map_err(|_| format!("bad {key} '{v}'"))
        }
        match key.as_str() {
            "--tier" => {
                let v = val()?;
                o.tier = tier_by_name(&v).ok_or(format!("unknown tier '{v}' (small, M, L)"))?;
            }
            "--seed" => o.seed = num(&key, val()?)?,
            "--days" => o.days = num(&key, val()?)?,
            "--visitors-per-day" => o.visitors_per_day = num(&key, val()?)?,
            "--visitors" => {
                o.weighting = match val()?.as_str() {
                    "uniform" => Weighting::Uniform,
                    "activity" => Weighting::Activity,
                    v => return Err(format!("unknown --visitors '{v}' (uniform, activity)")),
                }
            }
            "--placement" => o.placement = val()?,
            "--k" => o.k = num(&key, val()?)?,
            "--seed-sim" => o.seed_sim = num(&key, val()?)?,
            "--experiment" => o.experiment = Some(val()?),
            "--results" => o.results = true,
            "--base-ctr" => o.model.base_ctr = num(&key, val()?)?,
            "--position-decay" => o.model.position_decay = num(&key, val()?)?,
            "--affinity-exponent" => o.model.affinity_exponent = num(&key, val()?)?,
            "--buy-min" => o.model.buy_min = num(&key, val()?)?,
            "--buy-max" => o.model.buy_max = num(&key, val()?)?,
            "--sync-commit" => o.sync_commit = true,
            "--quiet" | "-q" => o.quiet = true,
            "--help" | "-h" => return Err(String::new()),
            _ if !a.starts_with('-') && o.conninfo.is_none() => o.conninfo = Some(a),
            _ => return Err(format!("unknown argument '{a}'")),
        }
    }
    o.model.validate()?;
    if o.placement.is_empty() {
        return Err("--placement must not be empty".into());
    }
    if !(1..=100).contains(&o.k) {
        return Err(format!("--k must be in 1..100, got {}", o.k));
    }
    if o.experiment.as_deref() == Some("") {
        return Err("--experiment must not be empty".into());
    }
    if o.results && o.experiment.is_none() {
        return Err("--results needs --experiment NAME".into());
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_flags() {
        let d = p(&[]).unwrap();
        assert_eq!(d.tier.name, "small");
        assert_eq!(
            (d.seed, d.days, d.visitors_per_day, d.k, d.seed_sim),
            (42, 7, 200, 10, 1)
        );
        assert_eq!(d.placement, "home");
        assert_eq!(d.weighting, Weighting::Activity);
        assert_eq!(d.model, Model::default());
        assert!(d.conninfo.is_none() && d.experiment.is_none() && !d.results && !d.sync_commit);

        let o = p(&[
            "host=/tmp port=55800",
            "--tier",
            "M",
            "--seed=7",
            "--days",
            "30",
            "--visitors-per-day=2000",
            "--visitors",
            "uniform",
            "--placement",
            "pdp",
            "--seed-sim",
            "9",
            "--experiment",
            "pop-vs-hybrid",
            "--results",
            "--base-ctr",
            "0.2",
            "--position-decay=1",
            "--buy-max",
            "0.3",
            "--quiet",
        ])
        .unwrap();
        assert_eq!(o.conninfo.as_deref(), Some("host=/tmp port=55800"));
        assert_eq!(o.tier.name, "M");
        assert_eq!(
            (o.seed, o.days, o.visitors_per_day, o.seed_sim),
            (7, 30, 2000, 9)
        );
        assert_eq!(o.weighting, Weighting::Uniform);
        assert_eq!(o.placement, "pdp");
        assert_eq!(o.experiment.as_deref(), Some("pop-vs-hybrid"));
        assert!(o.results && o.quiet);
        assert_eq!(o.model.base_ctr, 0.2);
        assert_eq!(o.model.position_decay, 1.0);
        assert_eq!(o.model.buy_max, 0.3);
    }

    #[test]
    fn errors() {
        assert_eq!(p(&["--help"]).unwrap_err(), "");
        assert!(p(&["--tier", "XL"]).unwrap_err().contains("unknown tier"));
        assert!(p(&["--days"]).unwrap_err().contains("needs a value"));
        assert!(p(&["--days", "-1"]).unwrap_err().contains("bad --days"));
        assert!(p(&["--results"]).unwrap_err().contains("--experiment"));
        assert!(p(&["--base-ctr", "2"]).unwrap_err().contains("[0, 1]"));
        assert!(p(&["--k", "0"]).is_err());
        assert!(p(&["--bogus"]).unwrap_err().contains("unknown argument"));
        assert!(p(&["dbname=a", "dbname=b"])
            .unwrap_err()
            .contains("unknown argument"));
        assert!(p(&["--visitors", "all"]).is_err());
    }
}
