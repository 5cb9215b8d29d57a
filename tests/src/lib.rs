//! Helpers for the cross-component tests: a real server process on loopback, devices with
//! their own stores, a raw HTTP client for hostile requests, and a proxy that cuts
//! connections at random bytes.

pub mod cut_proxy;
pub mod harness;
pub mod photo_contract;
pub mod proxy;
