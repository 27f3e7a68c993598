//! What `net capture` asks tcpdump for, pure: the checked request (a tier, a bounded time, an
//! optional packet count and filter), the tcpdump arguments that record that tier's bridge as
//! pcap on standard output, and reading tcpdump's closing counts. Invariants: every capture ends
//! within [`MAX_DURATION`], and nothing typed by the user can become a tcpdump option.

use std::time::Duration;

use crate::netns::Tier;

/// How long a capture runs when `--duration` is not given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(5);

/// The longest capture: a pcap of a busy bridge grows by megabytes a second.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("--duration must be more than zero, for example 5s")]
    ZeroDuration,
    #[error(
        "--duration of {0}s is longer than the hour one capture may run; capture in several parts"
    )]
    TooLong(u64),
    #[error("--packets must be at least 1; leave it out to stop on --duration alone")]
    ZeroPackets,
    #[error(
        "the filter {0:?} starts with '-'; give a tcpdump filter expression such as \"tcp port 5432\", not options"
    )]
    FilterLooksLikeOption(String),
}

/// A checked capture: which bridge, for how long at most, how many packets at most, which
/// packets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureRequest {
    pub tier: Tier,
    pub duration: Duration,
    pub packets: Option<u64>,
    /// A pcap-filter expression; `None` records every packet.
    pub filter: Option<String>,
}

impl CaptureRequest {
    /// Checks the command line's values; no duration means [`DEFAULT_DURATION`], a blank filter
    /// means none.
    pub fn new(
        tier: Tier,
        duration: Option<Duration>,
        packets: Option<u64>,
        filter: Option<&str>,
    ) -> Result<Self, RequestError> {
        let duration = duration.unwrap_or(DEFAULT_DURATION);
        if duration.is_zero() {
            return Err(RequestError::ZeroDuration);
        }
        if duration > MAX_DURATION {
            return Err(RequestError::TooLong(duration.as_secs()));
        }
        if packets == Some(0) {
            return Err(RequestError::ZeroPackets);
        }
        let filter = filter.map(str::trim).filter(|f| !f.is_empty());
        if let Some(f) = filter.filter(|f| f.starts_with('-')) {
            return Err(RequestError::FilterLooksLikeOption(f.to_owned()));
        }
        Ok(Self {
            tier,
            duration,
            packets,
            filter: filter.map(str::to_owned),
        })
    }

    /// tcpdump's arguments for recording `bridge`: numeric, every packet handed over at once
    /// (a short capture is not left in the kernel's buffer), pcap written to standard output
    /// and flushed per packet, `-c` when a count is asked for, and the filter after `--`.
    pub fn tcpdump_args(&self, bridge: &str) -> Vec<String> {
        let mut args: Vec<String> = ["-i", bridge, "-n", "--immediate-mode", "-U", "-w", "-"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        if let Some(count) = self.packets {
            args.push("-c".into());
            args.push(count.to_string());
        }
        args.push("--".into());
        if let Some(filter) = &self.filter {
            args.push(filter.clone());
        }
        args
    }
}

/// Whether a line tcpdump writes to standard error says the capture has begun
/// (`tcpdump: listening on sf-br-app, link-type EN10MB (Ethernet), ...`).
pub fn is_listening(line: &str) -> bool {
    line.contains("listening on ")
}

/// The counts tcpdump prints when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub captured: Option<u64>,
    pub dropped_by_kernel: Option<u64>,
}

/// Reads `N packets captured` and `N packets dropped by kernel` from tcpdump's standard error.
pub fn counts(stderr: &str) -> Counts {
    let find = |suffix: &str| {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_suffix(suffix)?.trim().parse().ok())
    };
    Counts {
        captured: find("packets captured").or_else(|| find("packet captured")),
        dropped_by_kernel: find("packets dropped by kernel")
            .or_else(|| find("packet dropped by kernel")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_duration_means_a_few_seconds_and_no_count() {
        let request = CaptureRequest::new(Tier::App, None, None, None).unwrap();
        assert_eq!(request.duration, DEFAULT_DURATION);
        assert_eq!(request.packets, None);
        assert_eq!(request.filter, None);
    }

    #[test]
    fn a_capture_is_bounded_in_time_and_count() {
        assert_eq!(
            CaptureRequest::new(Tier::Data, Some(Duration::ZERO), None, None),
            Err(RequestError::ZeroDuration)
        );
        assert_eq!(
            CaptureRequest::new(Tier::Data, Some(Duration::from_secs(7200)), None, None),
            Err(RequestError::TooLong(7200))
        );
        assert!(CaptureRequest::new(Tier::Data, Some(MAX_DURATION), None, None).is_ok());
        assert_eq!(
            CaptureRequest::new(Tier::Data, None, Some(0), None),
            Err(RequestError::ZeroPackets)
        );
    }

    #[test]
    fn records_the_tiers_bridge_as_pcap_on_standard_output() {
        let request =
            CaptureRequest::new(Tier::App, Some(Duration::from_secs(3)), None, None).unwrap();
        assert_eq!(
            request.tcpdump_args("sf-br-app"),
            [
                "-i",
                "sf-br-app",
                "-n",
                "--immediate-mode",
                "-U",
                "-w",
                "-",
                "--"
            ]
        );
    }

    #[test]
    fn a_count_and_a_filter_go_to_tcpdump_the_filter_after_the_options() {
        let request =
            CaptureRequest::new(Tier::Data, None, Some(100), Some("  tcp port 5432 ")).unwrap();
        let args = request.tcpdump_args("sf-br-data");
        assert_eq!(&args[7..], ["-c", "100", "--", "tcp port 5432"]);
        let dashes = args.iter().position(|a| a == "--").unwrap();
        assert_eq!(dashes, args.len() - 2, "{args:?}");
    }

    #[test]
    fn a_filter_cannot_smuggle_in_an_option() {
        assert_eq!(
            CaptureRequest::new(Tier::Edge, None, None, Some("-w /etc/passwd")),
            Err(RequestError::FilterLooksLikeOption("-w /etc/passwd".into()))
        );
        let blank = CaptureRequest::new(Tier::Edge, None, None, Some("   ")).unwrap();
        assert_eq!(blank.filter, None);
    }

    #[test]
    fn tcpdumps_closing_counts_are_read() {
        let stderr = "tcpdump: listening on sf-br-data, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n\
                      42 packets captured\n44 packets received by filter\n0 packets dropped by kernel\n";
        assert!(is_listening(stderr.lines().next().unwrap()));
        assert_eq!(
            counts(stderr),
            Counts {
                captured: Some(42),
                dropped_by_kernel: Some(0)
            }
        );
        assert_eq!(
            counts("1 packet captured\n1 packet dropped by kernel\n").captured,
            Some(1)
        );
        assert_eq!(
            counts("tcpdump: sf-br-x: No such device exists\n"),
            Counts::default()
        );
        assert!(!is_listening("tcpdump: sf-br-x: No such device exists"));
    }
}
