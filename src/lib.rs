//! stackdrill: a packetdrill-compatible, scripted TCP/IP conformance tester.
//!
//! Data flows one way: script text → [`script`] (AST with spans) → run → verdict → report.
//! This crate root only wires the modules together.

pub mod config;
pub mod introspect;
pub mod load;
pub mod netdev;
pub mod netns;
pub mod report;
pub mod run;
pub mod script;
pub mod suite;
pub mod target;
pub mod wire;
