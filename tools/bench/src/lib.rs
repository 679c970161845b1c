//! Benchmark commands; see BENCHMARKS.md.
