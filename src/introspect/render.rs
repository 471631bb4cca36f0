//! The socket table as text people and their scripts already parse: `netstat -tan` lines,
//! `ss -tni` entries (one line each, as `ss --oneline` prints them, so `grep PORT | sed` finds
//! the tcp_info fields on the port's line), and JSON.

use std::net::SocketAddr;

use serde_json::{json, Value};

use super::SocketRecord;
use crate::sut::socket_info::decode_tcp_info;

/// Linux's TCP state numbers, with the names netstat and ss print.
const STATES: &[(u8, &str, &str)] = &[
    (1, "ESTABLISHED", "ESTAB"),
    (2, "SYN_SENT", "SYN-SENT"),
    (3, "SYN_RECV", "SYN-RECV"),
    (4, "FIN_WAIT1", "FIN-WAIT-1"),
    (5, "FIN_WAIT2", "FIN-WAIT-2"),
    (6, "TIME_WAIT", "TIME-WAIT"),
    (7, "CLOSE", "UNCONN"),
    (8, "CLOSE_WAIT", "CLOSE-WAIT"),
    (9, "LAST_ACK", "LAST-ACK"),
    (10, "LISTEN", "LISTEN"),
    (11, "CLOSING", "CLOSING"),
];

/// The state as netstat names it.
pub fn netstat_state(state: u8) -> &'static str {
    STATES
        .iter()
        .find(|(n, _, _)| *n == state)
        .map_or("UNKNOWN", |(_, name, _)| name)
}

fn ss_state(state: u8) -> &'static str {
    STATES
        .iter()
        .find(|(n, _, _)| *n == state)
        .map_or("UNKNOWN", |(_, _, name)| name)
}

/// `ADDRESS:PORT` as netstat prints it (no brackets for IPv6; `*` for port 0).
fn netstat_address(address: &SocketAddr) -> String {
    match address.port() {
        0 => format!("{}:*", address.ip()),
        port => format!("{}:{port}", address.ip()),
    }
}

/// `ADDRESS:PORT` as ss prints it (IPv6 in brackets; `*` for port 0).
fn ss_address(address: &SocketAddr) -> String {
    let ip = match address {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    match address.port() {
        0 => format!("{ip}:*"),
        port => format!("{ip}:{port}"),
    }
}

/// `netstat -tan`: a two-line header, then one line per socket.
pub fn netstat(sockets: &[SocketRecord]) -> String {
    let mut out = String::from(
        "Active Internet connections (servers and established)\n\
         Proto Recv-Q Send-Q Local Address           Foreign Address         State      \n",
    );
    for socket in sockets {
        let proto = if socket.local.is_ipv6() {
            "tcp6"
        } else {
            "tcp"
        };
        out.push_str(&format!(
            "{proto:<4}  {:>6} {:>6} {:<23} {:<23} {:<11}\n",
            socket.recv_queue,
            socket.send_queue,
            netstat_address(&socket.local),
            netstat_address(&socket.remote),
            netstat_state(socket.state)
        ));
    }
    out
}

/// A tcp_info field by name, when the stack filled it.
fn field(fields: &[(&str, u64)], name: &str) -> Option<u64> {
    fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// Milliseconds from microseconds, as ss prints them (`%g`: no trailing zeros).
fn millis(usecs: u64) -> String {
    let text = format!("{:.3}", usecs as f64 / 1000.0);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The tcp_info part of an ss entry, in ss's order, fields the stack left at 0 omitted where
/// ss omits them too.
fn ss_details(socket: &SocketRecord) -> String {
    let fields = decode_tcp_info(&socket.tcp_info);
    let mut parts: Vec<String> = Vec::new();
    if let Some(cc) = &socket.congestion {
        parts.push(cc.clone());
    }
    if fields.is_empty() {
        return parts.join(" ");
    }
    let get = |name: &str| field(&fields, name).unwrap_or(0);
    if socket.state == 10 {
        // A listener's tcp_info holds its queues, not a connection's: ss shows only cwnd.
        parts.push(format!("cwnd:{}", get("tcpi_snd_cwnd")));
        return parts.join(" ");
    }
    let options = get("tcpi_options");
    if options & 4 != 0 {
        // TCPI_OPT_WSCALE
        parts.push(format!(
            "wscale:{},{}",
            get("tcpi_snd_wscale"),
            get("tcpi_rcv_wscale")
        ));
    }
    parts.push(format!("rto:{}", millis(get("tcpi_rto"))));
    parts.push(format!(
        "rtt:{}/{}",
        millis(get("tcpi_rtt")),
        millis(get("tcpi_rttvar"))
    ));
    if get("tcpi_ato") != 0 {
        parts.push(format!("ato:{}", millis(get("tcpi_ato"))));
    }
    parts.push(format!("mss:{}", get("tcpi_snd_mss")));
    parts.push(format!("pmtu:{}", get("tcpi_pmtu")));
    parts.push(format!("rcvmss:{}", get("tcpi_rcv_mss")));
    parts.push(format!("advmss:{}", get("tcpi_advmss")));
    parts.push(format!("cwnd:{}", get("tcpi_snd_cwnd")));
    let ssthresh = get("tcpi_snd_ssthresh");
    if ssthresh != 0 && ssthresh < 0xffff {
        parts.push(format!("ssthresh:{ssthresh}"));
    }
    for (name, label) in [
        ("tcpi_bytes_sent", "bytes_sent"),
        ("tcpi_bytes_retrans", "bytes_retrans"),
        ("tcpi_bytes_acked", "bytes_acked"),
        ("tcpi_bytes_received", "bytes_received"),
        ("tcpi_segs_out", "segs_out"),
        ("tcpi_segs_in", "segs_in"),
        ("tcpi_data_segs_out", "data_segs_out"),
        ("tcpi_data_segs_in", "data_segs_in"),
    ] {
        if let Some(value) = field(&fields, name).filter(|v| *v != 0) {
            parts.push(format!("{label}:{value}"));
        }
    }
    let (retrans, total_retrans) = (get("tcpi_retrans"), get("tcpi_total_retrans"));
    if retrans != 0 || total_retrans != 0 {
        parts.push(format!("retrans:{retrans}/{total_retrans}"));
    }
    for (name, label) in [
        ("tcpi_unacked", "unacked"),
        ("tcpi_sacked", "sacked"),
        ("tcpi_lost", "lost"),
    ] {
        if let Some(value) = field(&fields, name).filter(|v| *v != 0) {
            parts.push(format!("{label}:{value}"));
        }
    }
    if let Some(value) = field(&fields, "tcpi_rcv_space").filter(|v| *v != 0) {
        parts.push(format!("rcv_space:{value}"));
    }
    if let Some(value) = field(&fields, "tcpi_snd_wnd") {
        parts.push(format!("snd_wnd:{value}"));
    }
    parts.join(" ")
}

/// `ss -tni`, one line per socket (`ss --oneline`): state, queues, addresses, then the
/// socket's tcp_info fields.
pub fn ss(sockets: &[SocketRecord]) -> String {
    let mut out = String::from(
        "State      Recv-Q Send-Q Local Address:Port                 Peer Address:Port\n",
    );
    for socket in sockets {
        let line = format!(
            "{:<10} {:<6} {:<6} {:<34} {:<34} {}",
            ss_state(socket.state),
            socket.recv_queue,
            socket.send_queue,
            ss_address(&socket.local),
            ss_address(&socket.remote),
            ss_details(socket)
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One socket as JSON: addresses, netstat's state name, queues, and every tcp_info field the
/// stack filled.
fn socket_json(socket: &SocketRecord) -> Value {
    let info: serde_json::Map<String, Value> = decode_tcp_info(&socket.tcp_info)
        .into_iter()
        .map(|(name, value)| (name.to_string(), json!(value)))
        .collect();
    json!({
        "protocol": if socket.protocol == libc::IPPROTO_UDP { "udp" } else { "tcp" },
        "local": socket.local.to_string(),
        "remote": socket.remote.to_string(),
        "state": netstat_state(socket.state),
        "recv_q": socket.recv_queue,
        "send_q": socket.send_queue,
        "congestion": socket.congestion,
        "tcp_info": info,
    })
}

/// The whole table as a JSON array.
pub fn sockets_json(sockets: &[SocketRecord]) -> String {
    let array: Vec<Value> = sockets.iter().map(socket_json).collect();
    serde_json::to_string_pretty(&array).unwrap_or_else(|_| "[]".to_string()) + "\n"
}

/// `tcpi_*` name/value pairs as a JSON object.
pub fn tcp_info_json(fields: &[(String, i64)]) -> String {
    let object: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(name, value)| (name.clone(), json!(value)))
        .collect();
    serde_json::to_string_pretty(&Value::Object(object)).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn established() -> SocketRecord {
        let mut info = vec![0u8; 232];
        info[0] = 1; // state
        info[5] = 4; // TCPI_OPT_WSCALE
        info[6] = 7 | (8 << 4); // snd 7, rcv 8
        info[8..12].copy_from_slice(&204_000u32.to_le_bytes()); // rto
        info[16..20].copy_from_slice(&1448u32.to_le_bytes()); // snd_mss
        info[80..84].copy_from_slice(&10u32.to_le_bytes()); // snd_cwnd
        SocketRecord {
            protocol: libc::IPPROTO_TCP,
            local: "192.168.0.1:8080".parse().unwrap(),
            remote: "192.0.2.1:40000".parse().unwrap(),
            state: 1,
            recv_queue: 0,
            send_queue: 1000,
            congestion: Some("bbr".to_string()),
            tcp_info: info,
        }
    }

    fn listener() -> SocketRecord {
        SocketRecord {
            protocol: libc::IPPROTO_TCP,
            local: "[::]:8080".parse().unwrap(),
            remote: "[::]:0".parse().unwrap(),
            state: 10,
            recv_queue: 0,
            send_queue: 1,
            congestion: None,
            tcp_info: vec![],
        }
    }

    #[test]
    fn netstat_lines_have_netstats_columns() {
        let text = netstat(&[established(), listener()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2],
            "tcp        0   1000 192.168.0.1:8080        192.0.2.1:40000         ESTABLISHED"
        );
        assert_eq!(
            lines[3],
            // netstat pads the state column to 11 characters, trailing spaces included.
            "tcp6       0      1 :::8080                 :::*                    LISTEN     "
        );
    }

    #[test]
    fn ss_puts_tcp_info_on_the_ports_line() {
        let text = ss(&[established()]);
        let line = text.lines().find(|l| l.contains(":8080")).unwrap();
        assert!(
            line.starts_with("ESTAB      0      1000   192.168.0.1:8080"),
            "{line}"
        );
        assert!(
            line.contains(" bbr wscale:7,8 rto:204 rtt:0/0 mss:1448 "),
            "{line}"
        );
        assert!(line.contains(" cwnd:10 "), "{line}");
        assert!(ss(&[listener()]).contains("LISTEN     0      1      [::]:8080"));
    }

    #[test]
    fn json_names_states_and_fields() {
        let value: Value = serde_json::from_str(&sockets_json(&[established()])).unwrap();
        assert_eq!(value[0]["state"], "ESTABLISHED");
        assert_eq!(value[0]["tcp_info"]["tcpi_snd_cwnd"], 10);
        assert_eq!(value[0]["local"], "192.168.0.1:8080");
    }
}
