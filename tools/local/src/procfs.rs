//! Reading a process's memory from `/proc/<pid>/status`: resident set now (VmRSS) and its peak
//! (VmHWM), in KiB.

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
}

pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(parse_status(&status))
}

pub fn parse_status(status: &str) -> Memory {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
    }
}

/// Sends `signal` to process `pid`.
#[allow(unsafe_code)]
pub fn signal(pid: i32, signal: i32) {
    // SAFETY: sending a signal has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_peak_in_kib() {
        let m = parse_status("Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n");
        assert_eq!((m.rss_kib, m.peak_kib), (10240, 20480));
    }

    #[test]
    fn our_own_process_has_memory() {
        let m = memory(std::process::id()).unwrap();
        assert!(m.rss_kib > 0 && m.peak_kib >= m.rss_kib);
    }
}
