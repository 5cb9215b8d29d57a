//! Helpers for the cross-component tests: a real server process on loopback, devices with
//! their own stores, a raw HTTP client for hostile requests, and a proxy that behaves like
//! a phone's link (delay, bandwidth, cuts at random bytes, stalls).

pub mod arrival;
pub mod backlog;
pub mod harness;
pub mod link;
pub mod photo_contract;
pub mod process;
