//! The agent's integration tests: real files, real processes, a real HTTP receiver.
//! One binary for all of them (tests that need a process to themselves keep their own): a binary per file
//! linked all the dependencies again for each, tens of MB apiece.

#![allow(clippy::unwrap_used)]

mod backpressure;
mod carry;
mod common;
mod crash;
mod enrich_agent;
mod enrich_docker;
mod enrich_fake_api;
mod enrich_kube;
mod fast_rotation;
mod gz_inode_reuse;
mod logrotate;
mod model;
mod outage;
mod polling;
mod rotation;
