//! Memory readings from `/proc/<pid>/status` and CPU time from
//! `/proc/self/stat` (Linux).

/// A `Vm*` field of `/proc/self/status`, in KiB.
pub fn status_kib(field: &str) -> Option<u64> {
    proc_status_kib("self", field)
}

/// A `Vm*` field of another process's `/proc/<pid>/status`, in KiB.
pub fn pid_status_kib(pid: u32, field: &str) -> Option<u64> {
    proc_status_kib(&pid.to_string(), field)
}

fn proc_status_kib(process: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
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

/// CPU time (user + system, every thread) this process has used, from
/// `/proc/self/stat` in clock ticks of 10 ms (USER_HZ is 100 on Linux).
pub fn process_cpu() -> Option<std::time::Duration> {
    cpu_of("self")
}

/// [`process_cpu`] of another process.
pub fn pid_cpu(pid: u32) -> Option<std::time::Duration> {
    cpu_of(&pid.to_string())
}

/// This process's child processes whose command name is `name` (from
/// `/proc/self/task/*/children` and `/proc/<pid>/comm`).
pub fn children_named(name: &str) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|children| {
            children
                .split_whitespace()
                .filter_map(|pid| pid.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == name)
        })
        .collect()
}

fn cpu_of(process: &str) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{process}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(std::time::Duration::from_millis(ticks * 10))
}

/// Busy CPU time of the whole machine (every process, every core) from the
/// first line of `/proc/stat`: user, nice, system, irq, softirq, steal.
pub fn machine_busy() -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = cpu
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal …
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    Some(std::time::Duration::from_millis(busy * 10))
}

/// Reports how much CPU other processes took while `f` ran; benchmarks print
/// it so a figure taken on a busy machine is marked as such.
pub struct OtherLoad {
    machine: std::time::Duration,
    own: std::time::Duration,
    start: std::time::Instant,
}

impl OtherLoad {
    pub fn start() -> Self {
        OtherLoad {
            machine: machine_busy().unwrap_or_default(),
            own: process_cpu().unwrap_or_default(),
            start: std::time::Instant::now(),
        }
    }

    /// Other processes' CPU time since [`OtherLoad::start`], as a share of
    /// the machine's capacity (wall time × cores).
    pub fn summary(&self) -> String {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let wall = self.start.elapsed().as_secs_f64() * cores as f64;
        let machine = machine_busy()
            .unwrap_or_default()
            .saturating_sub(self.machine);
        let own = process_cpu().unwrap_or_default().saturating_sub(self.own);
        let others = machine.saturating_sub(own).as_secs_f64();
        format!(
            "CPU during the run: this process {:.0} %, other processes {:.0} % of {cores} cores",
            100.0 * own.as_secs_f64() / wall,
            100.0 * others / wall
        )
    }
}
