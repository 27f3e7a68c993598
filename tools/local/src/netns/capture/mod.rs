//! `storefront-local net capture <tier>`: a pcap of one tier's bridge for a bounded time.
//! [`request`] is pure (checking the command line, tcpdump's arguments, reading its counts);
//! [`tcpdump`] runs it inside the run's router namespace and writes the file.

pub mod request;
pub mod tcpdump;

pub use request::{CaptureRequest, RequestError};
pub use tcpdump::{Capture, CaptureError, Summary};
