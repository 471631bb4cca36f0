//! stackdrill: a packetdrill-compatible, scripted TCP/IP conformance tester.
//!
//! Data flows one way: script text → [`script`] (AST with spans) → [`run`] → verdict → report.
//! The stack under test sits behind the [`sut`] seams. This crate root only wires the modules
//! together.

pub mod catalog;
pub mod cli;
pub mod introspect;
pub mod load;
pub mod report;
pub mod run;
pub mod sched;
pub mod script;
pub mod suite;
pub mod sut;
pub mod verdict;
pub mod wire;
