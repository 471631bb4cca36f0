//! State smoltcp keeps private in a TCP socket but shows in the socket's `Debug` output: the
//! congestion controller's window and slow-start threshold, and the RTT estimator (smoothed
//! RTT, variance, RTO). smoltcp 0.14 has no accessor for them (`cwnd_remaining` and the
//! `Controller` trait are crate-private), and `Debug` is the only public view.
//!
//! The values are read, never recomputed: they are exactly what smoltcp's own controller and
//! estimator hold (the window `Controller::window()` returns is the `cwnd` field for Reno and
//! Cubic). The `Debug` text is not a stable interface, so anything that does not parse gives
//! `None` (the tcp_info fields stay 0) instead of a guess; the unit tests below pin the format
//! of the smoltcp version in Cargo.lock, so an upgrade that changes it is noticed.
//!
//! Formatting a socket formats its buffers too (about 2 ms for two 64 KiB buffers), so sockets
//! whose buffers together exceed [`MAX_FORMATTED_BUFFERS`] bytes are not read.

use smoltcp::socket::tcp;

/// Largest receive + send buffer capacity of a socket that is formatted to read its state.
pub const MAX_FORMATTED_BUFFERS: usize = 2 << 20;

/// smoltcp's RTT estimator, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttEstimate {
    /// Whether `srtt` and `rttvar` come from a sample (smoltcp clears them after 3 RTOs).
    pub have_measurement: bool,
    pub srtt_ms: u32,
    pub rttvar_ms: u32,
    /// The current retransmission timeout, backoff included.
    pub rto_ms: u32,
}

/// The congestion controller's state, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CongestionWindow {
    /// `CongestionControl::None`: no window (smoltcp's is `usize::MAX`).
    Unlimited,
    /// Reno or Cubic: `cwnd` and `ssthresh` (`usize::MAX` until the first loss).
    Window { cwnd: usize, ssthresh: usize },
}

/// What could be read from one socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketInternals {
    pub rtt: Option<RttEstimate>,
    pub congestion: Option<CongestionWindow>,
}

/// Reads the socket's RTT estimator and congestion controller.
pub fn read(socket: &tcp::Socket<'_>) -> SocketInternals {
    if socket.recv_capacity() + socket.send_capacity() > MAX_FORMATTED_BUFFERS {
        return SocketInternals::default();
    }
    parse(&format!("{socket:?}"))
}

/// Parses a socket's `Debug` text.
pub fn parse(text: &str) -> SocketInternals {
    SocketInternals {
        rtt: parse_rtt(text),
        congestion: parse_congestion(text),
    }
}

/// The text of the struct that follows `opening` (e.g. `rtte: RttEstimator {`), up to its
/// first closing brace (the fields read here are plain numbers and booleans before any
/// nested struct).
fn struct_after<'t>(text: &'t str, opening: &str) -> Option<&'t str> {
    let start = text.find(opening)? + opening.len();
    let rest = &text[start..];
    Some(&rest[..rest.find('}')?])
}

/// The value of ` name: value` in a struct's text, up to the next comma or the end.
fn field<'t>(fields: &'t str, name: &str) -> Option<&'t str> {
    let key = format!(" {name}: ");
    let start = fields.find(&key)? + key.len();
    let rest = &fields[start..];
    Some(rest[..rest.find(',').unwrap_or(rest.len())].trim())
}

fn number<T: std::str::FromStr>(fields: &str, name: &str) -> Option<T> {
    field(fields, name)?.parse().ok()
}

fn parse_rtt(text: &str) -> Option<RttEstimate> {
    let fields = struct_after(text, "rtte: RttEstimator {")?;
    Some(RttEstimate {
        have_measurement: number(fields, "have_measurement")?,
        srtt_ms: number(fields, "srtt")?,
        rttvar_ms: number(fields, "rttvar")?,
        rto_ms: number(fields, "rto")?,
    })
}

fn parse_congestion(text: &str) -> Option<CongestionWindow> {
    const FIELD: &str = "congestion_controller: ";
    let controller = &text[text.find(FIELD)? + FIELD.len()..];
    if controller.starts_with("None(NoControl)") {
        return Some(CongestionWindow::Unlimited);
    }
    let fields = struct_after(controller, "Reno(Reno {")
        .filter(|_| controller.starts_with("Reno("))
        .or_else(|| {
            struct_after(controller, "Cubic(Cubic {").filter(|_| controller.starts_with("Cubic("))
        })?;
    Some(CongestionWindow::Window {
        cwnd: number(fields, "cwnd")?,
        ssthresh: number(fields, "ssthresh")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(control: tcp::CongestionControl) -> tcp::Socket<'static> {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; 64]),
            tcp::SocketBuffer::new(vec![0u8; 64]),
        );
        socket.set_congestion_control(control);
        socket
    }

    /// Pins smoltcp's Debug format: a fresh socket's controller starts at 2048 bytes with an
    /// infinite ssthresh, and its estimator at the 1 s initial RTO without a measurement.
    #[test]
    fn reads_a_fresh_sockets_state() {
        let fresh_rtt = Some(RttEstimate {
            have_measurement: false,
            srtt_ms: 0,
            rttvar_ms: 0,
            rto_ms: 1000,
        });
        let window = Some(CongestionWindow::Window {
            cwnd: 2048,
            ssthresh: usize::MAX,
        });
        for control in [tcp::CongestionControl::Reno, tcp::CongestionControl::Cubic] {
            let read = read(&socket(control));
            assert_eq!(read.rtt, fresh_rtt, "{control:?}");
            assert_eq!(read.congestion, window, "{control:?}");
        }
        let read = read(&socket(tcp::CongestionControl::None));
        assert_eq!(read.congestion, Some(CongestionWindow::Unlimited));
        assert_eq!(read.rtt, fresh_rtt);
    }

    #[test]
    fn unknown_text_reads_as_nothing() {
        assert_eq!(
            parse("Socket { state: Closed }"),
            SocketInternals::default()
        );
        assert_eq!(
            parse("rtte: RttEstimator { have_measurement: maybe, srtt: 1, rttvar: 1, rto: 1 }"),
            SocketInternals::default()
        );
        assert_eq!(
            parse("congestion_controller: Vegas(Vegas { cwnd: 5, ssthresh: 6 })").congestion,
            None
        );
        assert_eq!(
            parse("congestion_controller: Reno(Reno { cwnd: 5, mss: 1, ssthresh: 7 })").congestion,
            Some(CongestionWindow::Window {
                cwnd: 5,
                ssthresh: 7
            })
        );
    }

    #[test]
    fn big_buffers_are_not_formatted() {
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; MAX_FORMATTED_BUFFERS]),
            tcp::SocketBuffer::new(vec![0u8; 1]),
        );
        assert_eq!(read(&socket), SocketInternals::default());
    }
}
