//! Integration tests of the shared protocol types.

mod merkle_vectors;
mod report;
