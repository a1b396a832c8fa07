//! reco-simulate: simulated shoppers for reco's A/B tests, so that experiments can be shown and
//! tested without a real shop.
//!
//! The database must hold the synthetic data of crates/reco-datagen (`--tier`, `--seed`, as
//! loaded by scripts/load_tier.sh or the demo's data/) and a model (reco.refresh()). Each
//! simulated day, `--visitors-per-day` distinct users visit; each visit is served through the
//! real serving call, `reco.serve(user, k, placement)` (which records the impression and, with an
//! experiment running on the placement, the user's arm), and what the shopper does with the list
//! goes through the real logging call, `reco.log_event(request_id, shoe_id, 'click' |
//! 'purchase')` (a purchase's value is NULL: the shoe's price; log_event also adds it to
//! reco.interactions, so later lists of that user see it). With `--experiment NAME`, a
//! popularity (control) vs hybrid (treatment) experiment, 50/50, is created and started first if
//! it does not exist; `--results` prints reco.experiment_results(NAME) at the end.
//!
//! # What the simulator assumes
//!
//! - **Taste.** A shopper behaves according to the taste the generator planted in the user
//!   (`reco_datagen::gen::taste`: primary and secondary type, favourite brands, a latent cluster
//!   and a favourite material per type). How well a shoe fits is
//!   `reco_datagen::gen::affinity(taste, shoe)`, the generator's own probability that an
//!   engagement of the user is of the shoe's type and drawn from a pool containing the shoe
//!   (0.70 x 0.35 = 0.245 for a primary-type shoe that matches nothing else, 0.49 with the
//!   user's cluster, up to 0.70; below 0.05 for a type that is neither primary nor secondary).
//!   The *relative affinity* r = affinity / 0.70 is in [0, 1]. Price, age-band tilts and
//!   popularity play no part in the shopper's decision (popularity matters only through what the
//!   arms choose to show); tastes do not drift; shoes bought earlier are not wanted less (the
//!   serving call excludes them anyway: exclude_purchased defaults to true).
//! - **Position bias.** The shoe at position p (1-based) is examined with probability
//!   p^-d, `--position-decay` d = 0.7 (1, 0.62, 0.46, ... 0.20 at position 10), independently of
//!   the other positions (the examination hypothesis; no cascade, any number of clicks per list).
//! - **Clicks.** P(click) = base_ctr x p^-d x r^e, `--base-ctr` 0.15, `--affinity-exponent`
//!   e = 1. So a perfect match at the top is clicked 15% of the time, a primary-type shoe that
//!   matches nothing else 5%, a shoe of an unrelated type well under 1%.
//! - **Purchases.** Only after a click: P(purchase | click) = buy_min + (buy_max - buy_min) x r,
//!   `--buy-min` 0.02, `--buy-max` 0.25 (linear in r); at most one purchase per shown shoe (no
//!   cart events are logged); the order value is the shoe's price (log_event's NULL default).
//! - **Visitors.** Each day `--visitors-per-day` distinct generated users visit (a user at most
//!   once a day), drawn without replacement with weight 1 + the user's number of generated
//!   interactions (`--visitors activity`, active shoppers return more often; users without any
//!   history visit too and get cold-start lists) or all alike (`--visitors uniform`). Users
//!   come back on later days, so per-user metrics (conversion, revenue per user) accumulate over
//!   the run. One visit = one list of `--k` shoes on `--placement`.
//! - **Time.** The simulated clock (day 1 = 2026-11-01, the day after the data's window) is for
//!   the progress lines only: the database stamps impressions with now() and the events keep
//!   log_event's default occurred_at = now() (one transaction per visit, so an event is never
//!   older than its impression). No refresh() runs during the simulation: the hybrid arm uses
//!   the model loaded at the start plus the purchases logged since (serve() reads the live
//!   interaction log).
//! - **Randomness.** Deterministic given `--seed-sim` (and the database state): the day's
//!   visitors come from stream (seed_sim, 1, day), each visit's clicks and purchases from stream
//!   (seed_sim, 2, day x 2^32 + visit), two uniforms per shown position whatever happens. An
//!   experiment created here gets its assignment seed from `--seed-sim` too (set while it is a
//!   draft; reco.create_experiment() would draw a random one), so the same users land in the same
//!   arms on every run.
//! - **Database session.** synchronous_commit is off for the simulator's session unless
//!   `--sync-commit` (losing the last simulated visits in a crash is harmless).
//!
//! Errors are printed with their SQLSTATE; the exit status is 1 for database errors, 2 for bad
//! arguments.

mod args;
mod model;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use postgres::{Client, Config, NoTls};
use reco_datagen::gen::{self, Shoe, Taste};
use reco_datagen::rng::Rng;
use reco_datagen::time::{civil_from_days, ts, DAY};

use args::Options;
use model::{sample_visitors, visitor_weights, Model};

const STREAM_VISITORS: u64 = 1;
const STREAM_VISIT: u64 = 2;
const STREAM_ASSIGNMENT: u64 = 3;

/// A failure: a database error with what was being done, or a plain message.
enum Failure {
    Db(&'static str, postgres::Error),
    Msg(String),
}

fn db(context: &'static str) -> impl FnOnce(postgres::Error) -> Failure {
    move |e| Failure::Db(context, e)
}

impl Failure {
    fn print(&self) {
        match self {
            Failure::Msg(m) => eprintln!("reco-simulate: {m}"),
            Failure::Db(context, e) => match e.as_db_error() {
                Some(d) => {
                    eprintln!(
                        "reco-simulate: {context}: {} {}: {}",
                        d.severity(),
                        d.code().code(),
                        d.message()
                    );
                    if let Some(detail) = d.detail() {
                        eprintln!("  DETAIL: {detail}");
                    }
                    if let Some(hint) = d.hint() {
                        eprintln!("  HINT: {hint}");
                    }
                    if let Some(w) = d.where_() {
                        eprintln!("  CONTEXT: {w}");
                    }
                }
                None => {
                    let code = e.code().map_or(String::new(), |c| format!(" {}", c.code()));
                    eprintln!("reco-simulate: {context}:{code} {e}");
                }
            },
        }
    }
}

/// The connection: the CONNINFO argument, completed from PG* like libpq would.
fn connect(conninfo: Option<&str>) -> Result<Client, Failure> {
    let mut config: Config = match conninfo {
        Some(s) => s.parse().map_err(db("parsing the connection string"))?,
        None => Config::new(),
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if config.get_hosts().is_empty() {
        for h in env("PGHOST")
            .unwrap_or("/var/run/postgresql".into())
            .split(',')
        {
            config.host(h);
        }
    }
    if config.get_ports().is_empty() {
        if let Some(p) = env("PGPORT") {
            let p = p
                .parse()
                .map_err(|_| Failure::Msg(format!("bad PGPORT '{p}'")))?;
            config.port(p);
        }
    }
    if config.get_user().is_none() {
        if let Some(u) = env("PGUSER").or_else(|| env("USER")) {
            config.user(&u);
        }
    }
    if config.get_dbname().is_none() {
        if let Some(d) = env("PGDATABASE") {
            config.dbname(&d);
        }
    }
    if config.get_password().is_none() {
        if let Some(p) = env("PGPASSWORD") {
            config.password(p);
        }
    }
    config.application_name("reco-simulate");
    config.connect(NoTls).map_err(db("connecting"))
}

/// Checks that the database holds the generated data: every generated user, and every generated
/// shoe under the same name (the demo adds rows of its own; those are allowed).
fn check_data(client: &mut Client, o: &Options, shoes: &[Shoe]) -> Result<(), Failure> {
    let users: i64 = client
        .query_one(
            "SELECT count(*) FROM reco.users WHERE user_id BETWEEN 1 AND $1",
            &[&(o.tier.users as i64)],
        )
        .map_err(db("reading reco.users"))?
        .get(0);
    let rows = client
        .query(
            "SELECT shoe_id, name FROM reco.shoes WHERE shoe_id BETWEEN 1 AND $1 ORDER BY shoe_id",
            &[&(o.tier.shoes as i64)],
        )
        .map_err(db("reading reco.shoes"))?;
    let same = rows.len() == shoes.len()
        && rows
            .iter()
            .zip(shoes)
            .all(|(r, s)| r.get::<_, i64>(0) == s.id as i64 && r.get::<_, &str>(1) == s.name);
    if users != o.tier.users as i64 || !same {
        return Err(Failure::Msg(format!(
            "the database does not hold the synthetic data of tier {} seed {} ({users} of its {} users, shoes {}): \
             load it with RECO_SEED={} scripts/load_tier.sh {}, or pass the right --tier/--seed",
            o.tier.name,
            o.seed,
            o.tier.users,
            if same { "match" } else { "differ" },
            o.seed,
            o.tier.name
        )));
    }
    Ok(())
}

/// Creates and starts the popularity vs hybrid experiment unless it exists; starts a draft.
fn setup_experiment(client: &mut Client, o: &Options, name: &str) -> Result<(), Failure> {
    let status: Option<String> = client
        .query_opt(
            "SELECT status FROM reco.experiments WHERE name = $1",
            &[&name],
        )
        .map_err(db("reading reco.experiments"))?
        .map(|r| r.get(0));
    let mut tx = client.transaction().map_err(db("BEGIN"))?;
    let status = match status {
        Some(s) => s,
        None => {
            tx.execute(
                "SELECT reco.create_experiment($1, \
                   '[{\"name\": \"control\", \"strategy\": \"popularity\", \"weight\": 50}, \
                     {\"name\": \"treatment\", \"strategy\": \"hybrid\", \"weight\": 50}]'::jsonb, $2)",
                &[&name, &o.placement],
            )
            .map_err(db("reco.create_experiment"))?;
            // Reproducible assignment: the seed of a draft may still change.
            let seed = Rng::new(o.seed_sim, STREAM_ASSIGNMENT, 0).below(1 << 62) as i64;
            tx.execute(
                "UPDATE reco.experiments SET seed = $2 WHERE name = $1 AND status = 'draft'",
                &[&name, &seed],
            )
            .map_err(db("setting the experiment's assignment seed"))?;
            eprintln!("reco-simulate: created experiment \"{name}\" on placement \"{}\": control = popularity, treatment = hybrid, 50/50", o.placement);
            "draft".into()
        }
    };
    if status == "draft" {
        tx.execute("SELECT reco.start_experiment($1)", &[&name])
            .map_err(db("reco.start_experiment"))?;
        eprintln!("reco-simulate: started experiment \"{name}\"");
    } else {
        eprintln!("reco-simulate: experiment \"{name}\" exists already ({status}); left as it is");
    }
    tx.commit().map_err(db("COMMIT"))
}

/// What the simulator saw per served arm (its own bookkeeping, beside experiment_results()).
#[derive(Default)]
struct Tally {
    visits: u64,
    shown: u64,
    relative_affinity: f64,
    clicks: u64,
    purchases: u64,
    revenue: f64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.visits += o.visits;
        self.shown += o.shown;
        self.relative_affinity += o.relative_affinity;
        self.clicks += o.clicks;
        self.purchases += o.purchases;
        self.revenue += o.revenue;
    }
}

fn date(day: u32) -> String {
    let (y, m, d) = civil_from_days((ts(2026, 11, 1) + (day as i64 - 1) * DAY) / DAY);
    format!("{y}-{m:02}-{d:02}")
}

fn run(o: &Options) -> Result<(), Failure> {
    let t0 = Instant::now();
    let users = gen::gen_users(&o.tier, o.seed);
    let shoes = gen::gen_shoes(&o.tier, o.seed);
    let tastes: Vec<Taste> = users.iter().map(|u| gen::taste(u, o.seed)).collect();
    let weights = visitor_weights(users.iter().map(|u| u.n_inter), o.weighting);

    let mut client = connect(o.conninfo.as_deref())?;
    check_data(&mut client, o, &shoes)?;
    if !o.sync_commit {
        client
            .batch_execute("SET synchronous_commit = off")
            .map_err(db("SET synchronous_commit"))?;
    }
    if let Some(name) = &o.experiment {
        setup_experiment(&mut client, o, name)?;
    }
    let serve = client
        .prepare("SELECT request_id, position, shoe_id, arm FROM reco.serve($1::int8, $2::int4, $3::text)")
        .map_err(db("preparing reco.serve"))?;
    let log = client
        .prepare("SELECT reco.log_event($1::int8, $2::int8, $3::text)")
        .map_err(db("preparing reco.log_event"))?;
    let model: &Model = &o.model;
    let mut by_arm: BTreeMap<String, Tally> = BTreeMap::new();
    let (mut calls, mut unknown_shoes) = (0u64, 0u64);
    let t_sim = Instant::now();
    for day in 1..=o.days {
        let t_day = Instant::now();
        let mut so_far = Tally::default();
        let mut vrng = Rng::new(o.seed_sim, STREAM_VISITORS, day as u64);
        let visitors = sample_visitors(&weights, o.visitors_per_day, &mut vrng);
        for (v, &ui) in visitors.iter().enumerate() {
            let user = &users[ui];
            let mut rng = Rng::new(o.seed_sim, STREAM_VISIT, ((day as u64) << 32) | v as u64);
            let mut tx = client.transaction().map_err(db("BEGIN"))?;
            let rows = tx
                .query(&serve, &[&(user.id as i64), &o.k, &o.placement])
                .map_err(db("reco.serve"))?;
            calls += 1;
            let arm = rows
                .first()
                .map_or("(empty list)".to_string(), |r| r.get(3));
            let tally = by_arm.entry(arm).or_default();
            tally.visits += 1;
            for r in &rows {
                let (request, pos, shoe_id): (i64, i32, i64) = (r.get(0), r.get(1), r.get(2));
                let shoe = shoes
                    .get((shoe_id - 1) as usize)
                    .filter(|s| s.id as i64 == shoe_id);
                // A shoe the generator did not make (added by hand): no taste for it.
                let affinity = shoe.map_or(0.0, |s| gen::affinity(&tastes[ui], s));
                unknown_shoes += u64::from(shoe.is_none());
                tally.shown += 1;
                tally.relative_affinity += Model::relative(affinity);
                let outcome = model.draw(pos as u32, affinity, &mut rng);
                if outcome.click {
                    tx.query_one(&log, &[&request, &shoe_id, &"click"])
                        .map_err(db("reco.log_event click"))?;
                    calls += 1;
                    tally.clicks += 1;
                }
                if outcome.purchase {
                    tx.query_one(&log, &[&request, &shoe_id, &"purchase"])
                        .map_err(db("reco.log_event purchase"))?;
                    calls += 1;
                    tally.purchases += 1;
                    tally.revenue += shoe.map_or(0.0, |s| s.price_cents as f64 / 100.0);
                }
            }
            tx.commit().map_err(db("COMMIT"))?;
        }
        for t in by_arm.values() {
            so_far.add(t);
        }
        if !o.quiet {
            eprintln!(
                "day {day:>3} {}: {} visits in {:.1} s; so far {} visits, {} clicks, {} purchases, {:.0} calls/s",
                date(day),
                visitors.len(),
                t_day.elapsed().as_secs_f64(),
                so_far.visits,
                so_far.clicks,
                so_far.purchases,
                calls as f64 / t_sim.elapsed().as_secs_f64()
            );
        }
    }
    let sim_s = t_sim.elapsed().as_secs_f64();
    println!(
        "simulated {} days x {} visitors (tier {}, seed {}, seed-sim {}, placement {}): {calls} calls \
         (serve + log_event) in {sim_s:.1} s = {:.0} calls/s; total {:.1} s",
        o.days,
        o.visitors_per_day,
        o.tier.name,
        o.seed,
        o.seed_sim,
        o.placement,
        calls as f64 / sim_s.max(1e-9),
        t0.elapsed().as_secs_f64()
    );
    if unknown_shoes > 0 {
        println!("  {unknown_shoes} shown shoes were not generated ones (affinity 0)");
    }
    println!(
        "{:<12} {:>8} {:>9} {:>9} {:>7} {:>9} {:>8} {:>11}",
        "served arm", "visits", "shown", "mean r", "ctr", "clicks", "orders", "revenue"
    );
    for (arm, t) in &by_arm {
        println!(
            "{:<12} {:>8} {:>9} {:>9.3} {:>6.2}% {:>9} {:>8} {:>11.2}",
            arm,
            t.visits,
            t.shown,
            t.relative_affinity / t.shown.max(1) as f64,
            100.0 * t.clicks as f64 / t.shown.max(1) as f64,
            t.clicks,
            t.purchases,
            t.revenue
        );
    }
    if o.results {
        print_results(&mut client, o.experiment.as_deref().unwrap_or_default())?;
    }
    Ok(())
}

/// reco.experiment_results(name) as two fixed-width tables: the arms, then each arm's lifts
/// against the control.
fn print_results(client: &mut Client, name: &str) -> Result<(), Failure> {
    let rows = client
        .query(
            "SELECT arm, users, impressions, clicks, ctr, conversions, conversion_rate, orders, revenue, aov, \
                    revenue_per_user, srm_p_value, required_users_per_arm, verdict, \
                    conversion_relative_lift, conversion_relative_ci_low, conversion_relative_ci_high, conversion_p_value, \
                    ctr_relative_lift, ctr_relative_ci_low, ctr_relative_ci_high, ctr_p_value, \
                    aov_relative_lift, aov_relative_ci_low, aov_relative_ci_high, aov_p_value, \
                    revenue_per_user_relative_lift, revenue_per_user_relative_ci_low, \
                    revenue_per_user_relative_ci_high, revenue_per_user_p_value, \
                    revenue_per_user_lift, revenue_per_user_ci_low, revenue_per_user_ci_high \
             FROM reco.experiment_results($1)",
            &[&name],
        )
        .map_err(db("reco.experiment_results"))?;
    let f = |v: Option<f64>, prec: usize| v.map_or("-".to_string(), |x| format!("{x:.prec$}"));
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:+.1}%", 100.0 * x));
    println!("\nreco.experiment_results('{name}'):");
    println!(
        "{:<10} {:>7} {:>9} {:>7} {:>7} {:>6} {:>8} {:>7} {:>10} {:>7} {:>8} {:>8} {:>9}  verdict",
        "arm",
        "users",
        "impr.",
        "clicks",
        "ctr %",
        "conv.",
        "conv. %",
        "orders",
        "revenue",
        "aov",
        "rev/user",
        "srm p",
        "need/arm"
    );
    for r in &rows {
        let (ctr, conv): (Option<f64>, Option<f64>) = (r.get(4), r.get(6));
        println!(
            "{:<10} {:>7} {:>9} {:>7} {:>7} {:>6} {:>8} {:>7} {:>10} {:>7} {:>8} {:>8} {:>9}  {}",
            r.get::<_, String>(0),
            r.get::<_, i64>(1),
            r.get::<_, i64>(2),
            r.get::<_, i64>(3),
            f(ctr.map(|x| 100.0 * x), 3),
            r.get::<_, i64>(5),
            f(conv.map(|x| 100.0 * x), 2),
            r.get::<_, i64>(7),
            f(r.get(8), 2),
            f(r.get(9), 2),
            f(r.get(10), 3),
            f(r.get(11), 3),
            r.get::<_, Option<i64>>(12)
                .map_or("-".into(), |n| n.to_string()),
            r.get::<_, Option<String>>(13).unwrap_or_default()
        );
    }
    println!(
        "\n{:<10} {:<18} {:>9} {:>22} {:>10}",
        "arm", "metric", "lift", "95% CI", "p-value"
    );
    for r in rows.iter().skip(1) {
        let arm: String = r.get(0);
        for (i, metric) in ["conversion", "ctr", "aov", "revenue_per_user"]
            .iter()
            .enumerate()
        {
            let c = 14 + 4 * i;
            println!(
                "{:<10} {:<18} {:>9} {:>22} {:>10}",
                arm,
                metric,
                pct(r.get(c)),
                format!("[{}, {}]", pct(r.get(c + 1)), pct(r.get(c + 2))),
                f(r.get(c + 3), 4)
            );
        }
        println!(
            "{:<10} {:<18} {:>9} {:>22}",
            arm,
            "revenue/user abs.",
            f(r.get(30), 3),
            format!("[{}, {}]", f(r.get(31), 3), f(r.get(32), 3))
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let o = match args::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("reco-simulate: {e}");
            }
            eprintln!("{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.print();
            ExitCode::FAILURE
        }
    }
}
