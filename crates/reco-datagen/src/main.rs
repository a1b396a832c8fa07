//! reco-datagen: seeded synthetic shop data for the reco extension.
//!
//!   reco-datagen --tier small|M|L [--seed 42] --out DIR        writes DIR/{users,shoes,interactions}.csv
//!   reco-datagen --tier M --table interactions [--seed 42]     one table's CSV to stdout
//!
//! Same tier + seed => byte-identical output. A summary goes to stderr (--quiet to silence).

use reco_datagen::{csv, gen};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: reco-datagen --tier small|M|L [--seed N] (--out DIR [--table T] | --table users|shoes|interactions) [--quiet]
  --tier   small (1k users, 300 shoes, 30k interactions), M (100k, 20k, 2M), L (1M, 100k, 20M)
  --seed   PRNG seed (default 42); same seed => byte-identical CSV
  --out    directory for users.csv, shoes.csv, interactions.csv (created if missing)
  --table  only this table; to stdout unless --out is given
  --quiet  no summary on stderr";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    Users,
    Shoes,
    Interactions,
}

struct Args {
    tier: gen::Tier,
    seed: u64,
    out: Option<PathBuf>,
    table: Option<Table>,
    quiet: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut tier = None;
    let mut seed = 42u64;
    let mut out = None;
    let mut table = None;
    let mut quiet = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut val = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or(format!("{name} needs a value"))
        };
        match key.as_str() {
            "--tier" => {
                let v = val("--tier")?;
                tier =
                    Some(gen::tier_by_name(&v).ok_or(format!("unknown tier '{v}' (small, M, L)"))?);
            }
            "--seed" => {
                let v = val("--seed")?;
                seed = v.parse().map_err(|_| format!("bad --seed '{v}'"))?;
            }
            "--out" => out = Some(PathBuf::from(val("--out")?)),
            "--table" => {
                let v = val("--table")?;
                table = Some(match v.as_str() {
                    "users" => Table::Users,
                    "shoes" => Table::Shoes,
                    "interactions" => Table::Interactions,
                    _ => return Err(format!("unknown table '{v}' (users, shoes, interactions)")),
                });
            }
            "--quiet" | "-q" => quiet = true,
            "--help" | "-h" => return Err(String::new()),
            _ => return Err(format!("unknown argument '{a}'")),
        }
    }
    let tier = tier.ok_or("--tier is required")?;
    if out.is_none() && table.is_none() {
        return Err("give --out DIR, or --table T to write one table to stdout".into());
    }
    Ok(Args {
        tier,
        seed,
        out,
        table,
        quiet,
    })
}

fn open_out(args: &Args, file: &str) -> io::Result<Box<dyn Write>> {
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            let f = File::create(dir.join(file))?;
            Ok(Box::new(BufWriter::with_capacity(4 << 20, f)))
        }
        None => Ok(Box::new(BufWriter::with_capacity(
            4 << 20,
            io::stdout().lock(),
        ))),
    }
}

fn run(args: &Args) -> io::Result<()> {
    let t_start = Instant::now();
    let tier = &args.tier;
    let want = |t: Table| args.table.is_none_or(|x| x == t);
    let users = gen::gen_users(tier, args.seed);
    let shoes = gen::gen_shoes(tier, args.seed);
    if want(Table::Users) {
        csv::write_users(open_out(args, "users.csv")?, &users)?;
    }
    if want(Table::Shoes) {
        csv::write_shoes(open_out(args, "shoes.csv")?, &shoes)?;
    }
    if want(Table::Interactions) {
        let t_gen = Instant::now();
        let inter = gen::gen_interactions(&users, &shoes, args.seed, tier.interactions);
        let gen_s = t_gen.elapsed().as_secs_f64();
        let t_write = Instant::now();
        csv::write_interactions(open_out(args, "interactions.csv")?, &inter)?;
        let write_s = t_write.elapsed().as_secs_f64();
        if !args.quiet {
            let s = gen::summarize(&users, &shoes, &inter);
            let n = inter.len() as f64;
            let pct = |x: u64| 100.0 * x as f64 / n;
            eprintln!(
                "reco-datagen: tier {} seed {}: {} users ({} without interactions, max {} per user), {} shoes ({} inactive), {} interactions",
                tier.name, args.seed, users.len(), s.users_without, s.max_per_user, shoes.len(), s.inactive_shoes, inter.len()
            );
            eprintln!(
                "  actions: view {} ({:.1}%), add_to_wishlist {} ({:.1}%), purchase {} ({:.1}%)",
                s.per_action[0],
                pct(s.per_action[0]),
                s.per_action[1],
                pct(s.per_action[1]),
                s.per_action[2],
                pct(s.per_action[2])
            );
            eprintln!(
                "  interactions on the user's primary_usage type: {:.1}% (of {} by users with a primary_usage); incl. hidden usage of NULL-usage users: {:.1}%",
                100.0 * s.match_usage as f64 / s.with_usage.max(1) as f64,
                s.with_usage,
                pct(s.match_hidden)
            );
            eprintln!(
                "  generate {:.2}s, write interactions {:.2}s, total {:.2}s",
                gen_s,
                write_s,
                t_start.elapsed().as_secs_f64()
            );
        }
    } else if !args.quiet {
        eprintln!(
            "reco-datagen: tier {} seed {}: wrote {} in {:.2}s",
            tier.name,
            args.seed,
            if want(Table::Users) { "users" } else { "shoes" },
            t_start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("reco-datagen: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reco-datagen: {e}");
            ExitCode::FAILURE
        }
    }
}
