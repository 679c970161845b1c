//! Memory readings from `/proc/self/status` (Linux).

/// A `Vm*` field of `/proc/self/status`, in KiB.
pub fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets the peak-RSS mark (`VmHWM`) so the next reading covers only what
/// follows. Returns false where the kernel does not support it.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident set since start or the last [`reset_peak`], in MiB.
pub fn peak_mib() -> f64 {
    status_kib("VmHWM").unwrap_or(0) as f64 / 1024.0
}

/// Current resident set, in MiB.
pub fn rss_mib() -> f64 {
    status_kib("VmRSS").unwrap_or(0) as f64 / 1024.0
}
