//! The library behind `cargo xtask`: the code generator, so tests can run it in memory.

pub mod codegen;
