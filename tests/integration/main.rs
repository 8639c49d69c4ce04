//! End-to-end tests of the `logmind` binary: demo, CLI, pipeline, crash recovery, deploy manifests.
//! One binary for all of them (tests that need a process to themselves keep their own): a binary per file
//! linked all the dependencies again for each, tens of MB apiece.

#![allow(clippy::unwrap_used)]

mod common;
mod deploy_manifests;
mod e2e_cli;
mod e2e_crash;
mod e2e_demo;
mod e2e_pipeline;
