//! reco-datagen as a library: the seeded synthetic shop (users, shoes, interactions with planted
//! structure; data/README.md) and, for the traffic simulator (crates/reco-sim), every user's
//! hidden taste ([`gen::taste`]) and how well a shoe fits it ([`gen::affinity`]).
//! The `reco-datagen` binary (src/main.rs) writes the CSV.

pub mod catalog;
pub mod csv;
pub mod gen;
pub mod rng;
pub mod time;

#[cfg(test)]
mod tests;
