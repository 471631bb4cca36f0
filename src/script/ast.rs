//! The script's abstract syntax tree: what a script says, with the span of every node.
//!
//! Values are already checked for range (a port fits 16 bits, a sequence number 32 bits, …) and
//! consistency (`START:END(LEN)` adds up); what depends on the run configuration (IP version,
//! live sequence numbers, fd mapping) is left to the executor.

use std::fmt;

/// Byte range in the original script text (before define substitution).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A value with the span it was written at.
#[derive(Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T: fmt::Debug> fmt::Debug for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} @{:?}", self.value, self.span)
    }
}

/// A whole parsed script.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// `--name[=value]` lines at the top, in order.
    pub options: Vec<OptionLine>,
    /// Back-quoted command before the first event.
    pub init_command: Option<Command>,
    pub events: Vec<Event>,
    /// Back-quoted command after the last event.
    pub cleanup_command: Option<Command>,
}

/// One `--name` or `--name=value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionLine {
    pub name: Spanned<String>,
    pub value: Option<Spanned<String>>,
    pub span: Span,
}

/// `TIME ACTION`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// 1-based line of the event's time stamp (packetdrill reports errors at this line).
    pub line: usize,
    pub time: EventTime,
    pub action: Action,
    pub span: Span,
}

/// A script time in microseconds, absolute or relative to the previous event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimePoint {
    pub micros: i64,
    pub relative: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTime {
    /// `N` or `+N`.
    At(TimePoint),
    /// `*`: any time (outbound packets only).
    Any(Span),
    /// `A~B` or `+A~+B` (outbound packets only).
    Range { start: TimePoint, end: TimePoint },
    /// `T...E`: a blocking system call starting at T and returning at E.
    Blocking { start: TimePoint, end: TimePoint },
}

impl EventTime {
    /// The time at which the event starts (the lower end of a range).
    pub fn start(&self) -> Option<&TimePoint> {
        match self {
            EventTime::At(t) => Some(t),
            EventTime::Any(_) => None,
            EventTime::Range { start, .. } | EventTime::Blocking { start, .. } => Some(start),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Packet(Packet),
    /// A layer-2 frame: an ARP message or an IPv6 neighbour discovery message (`docs/layer2.md`).
    Link(LinkFrame),
    Syscall(Syscall),
    Command(Command),
    Code(CodeBlock),
    /// An event that uses a word where a number (or hex cookie) is needed and no `-D` define
    /// gave it a value (e.g. `<mss MSS>` without `-D MSS=…`). Parsing goes on; running the event
    /// fails with `message`, as the script cannot mean anything without the define.
    NeedsDefine(MissingDefine),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingDefine {
    pub name: Spanned<String>,
    pub message: String,
}

/// Back-quoted shell command; `text` is passed to `/bin/sh -c` verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub text: String,
    pub span: Span,
}

/// `%{ … }%` code block (Python), with leading/trailing spaces and tabs trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBlock {
    pub text: String,
    pub span: Span,
}

// ---------------------------------------------------------------------------------------------
// Layer-2 frames

/// `< arp request sha peer spa gateway ...`, `> ndp na tgt local flags S,O ...`: a frame
/// injected into the stack's link or expected from it. A field left out is a default inbound
/// and "any value" outbound (except an NDP hop limit, which is 255 unless given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFrame {
    pub direction: Direction,
    /// Ethernet source and destination (`eth_src`, `eth_dst`).
    pub eth_src: Option<MacValue>,
    pub eth_dst: Option<MacValue>,
    pub body: LinkBody,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkBody {
    Arp(ArpFrame),
    Ndp(NdpFrame),
}

/// An ARP message (RFC 826), Ethernet/IPv4 unless the script says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpFrame {
    /// 1 (`request`) or 2 (`reply`), or the `op N` that overrides it.
    pub op: u16,
    pub htype: Option<u16>,
    pub ptype: Option<u16>,
    pub hlen: Option<u8>,
    pub plen: Option<u8>,
    /// Sender and target hardware (MAC) and protocol (IPv4) addresses.
    pub sha: Option<MacValue>,
    pub spa: Option<AddressValue>,
    pub tha: Option<MacValue>,
    pub tpa: Option<AddressValue>,
}

impl ArpFrame {
    /// Operation `op` with every other field left out.
    pub fn new(op: u16) -> Self {
        ArpFrame {
            op,
            htype: None,
            ptype: None,
            hlen: None,
            plen: None,
            sha: None,
            spa: None,
            tha: None,
            tpa: None,
        }
    }
}

/// Which neighbour discovery message (RFC 4861 §4.3, §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdpKind {
    /// `ns`: neighbour solicitation, ICMPv6 type 135.
    Solicitation,
    /// `na`: neighbour advertisement, ICMPv6 type 136.
    Advertisement,
}

/// A neighbour solicitation or advertisement in its IPv6 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NdpFrame {
    pub kind: NdpKind,
    /// IPv6 source and destination (`src`, `dst`) and hop limit (`hlim`).
    pub src: Option<AddressValue>,
    pub dst: Option<AddressValue>,
    pub hop_limit: Option<u8>,
    /// The target address (`tgt`).
    pub target: Option<AddressValue>,
    /// Advertisement flags (`flags R,S,O`; `flags none`): router 0x80, solicited 0x40,
    /// override 0x20 of the first byte after the checksum.
    pub flags: Option<u8>,
    /// The source (`sll`) and target (`tll`) link-layer address options.
    pub source_link_address: Option<LinkOption>,
    pub target_link_address: Option<LinkOption>,
}

impl NdpFrame {
    /// A `kind` message with every field left out but the hop limit (255, as RFC 4861 wants).
    pub fn new(kind: NdpKind) -> Self {
        NdpFrame {
            kind,
            src: None,
            dst: None,
            hop_limit: Some(255),
            target: None,
            flags: None,
            source_link_address: None,
            target_link_address: None,
        }
    }
}

/// A link-layer address option: the MAC it carries, or `none` (no such option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOption {
    Mac(MacValue),
    Absent,
}

/// A MAC address as a script writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacValue {
    Literal([u8; 6]),
    /// `stack`: the stack under test's interface.
    Stack,
    /// `peer`: the simulated peer's.
    Peer,
    /// `broadcast`: ff:ff:ff:ff:ff:ff.
    Broadcast,
}

/// An IP address as a script writes it: a literal, or one of the run's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressValue {
    Literal(std::net::IpAddr),
    /// `local`: the stack's address.
    Local,
    /// `remote`: the remote end's address.
    Remote,
    /// `gateway`: the gateway's, the peer's address on the link.
    Gateway,
}

// ---------------------------------------------------------------------------------------------
// Packets

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `<`: injected into the stack under test.
    Inbound,
    /// `>`: expected from the stack under test.
    Outbound,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub direction: Direction,
    /// Outer headers, outermost first.
    pub encapsulations: Vec<Encapsulation>,
    pub ip: IpInfo,
    pub body: PacketBody,
    pub span: Span,
}

/// IP-level annotations: `[ect0]`, `(tos 0x10)`, `[ce, flowlabel 0x12345]`, `[ttl 64]`…
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpInfo {
    pub ecn: Option<Ecn>,
    pub tos: Option<u8>,
    pub flow_label: Option<u32>,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: Option<u8>,
    /// (nplab) DSCP code point, 6 bits.
    pub dscp: Option<u8>,
    /// (stackdrill) `ip_options HEX`: IPv4 option bytes (the encoder pads them with zeros, end
    /// of option list, to a multiple of 4; outbound, the live options must be these bytes so
    /// padded), or the options of an IPv6 destination options header (inbound only).
    pub options: Option<Vec<u8>>,
    /// (stackdrill) `src ADDR`, `dst ADDR`: addresses in place of the run's (inbound), or the
    /// addresses the packet must carry (outbound).
    pub src: Option<std::net::IpAddr>,
    pub dst: Option<std::net::IpAddr>,
    /// (stackdrill) `same_id`, outbound IPv4 only: the packet's identification must equal that
    /// of the outbound packet the script matched before it (a retransmission that keeps its
    /// datagram's ID, RFC 9293 MAY-4).
    pub same_id: bool,
    pub span: Option<Span>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ecn {
    NotEct,
    Ect0,
    Ect1,
    Ce,
    /// ECT(0) or ECT(1), outbound only.
    Ect0OrEct1,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encapsulation {
    Ip {
        ip: IpInfo,
        source: std::net::IpAddr,
        destination: std::net::IpAddr,
        span: Span,
    },
    Gre(GreHeader),
    Mpls {
        entries: Vec<MplsEntry>,
        span: Span,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GreHeader {
    /// Flag bits from `flags [..]` or `flags N` (network order of the first 16 bits).
    pub flags: Option<u16>,
    pub checksum: Option<u16>,
    pub offset: Option<u16>,
    pub key: Option<u32>,
    pub sequence: Option<u32>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MplsEntry {
    pub label: u32,
    pub traffic_class: u8,
    pub bottom_of_stack: bool,
    pub ttl: u8,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PacketBody {
    Tcp(TcpPacket),
    Udp(UdpPacket),
    UdpLite(UdpLitePacket),
    Icmp(IcmpPacket),
    /// (nplab) `sctp: CHUNK[...]; ...`.
    Sctp(SctpPacket),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub source: u16,
    pub destination: u16,
}

#[derive(Clone, PartialEq)]
pub struct TcpPacket {
    /// `encap psp spi N`.
    pub psp_spi: Option<u32>,
    pub ports: Option<Ports>,
    pub flags: TcpFlags,
    pub sequence: TcpSequence,
    /// `ack N`: the acknowledgment field, independent of the ACK flag.
    pub ack: Option<u32>,
    /// `win N`: the raw 16-bit window field.
    pub window: Option<u16>,
    pub urgent: Option<u16>,
    pub options: TcpOptions,
    /// (nplab) `/ udp(SPORT > DPORT)`: TCP over UDP.
    pub udp_encapsulation: Option<Ports>,
    /// (stackdrill, inbound only) `bad_csum`: the segment carries a wrong TCP checksum.
    pub bad_checksum: bool,
    /// (MPTCP fork) `addr[caddr1] > addr[saddr1]`: the subflow's named ends.
    pub subflow: Option<super::mptcp::MptcpTuple>,
}

/// As derived, but the MPTCP subflow ends only when a packet names them (the AST of a script
/// without MPTCP reads as it did before they existed).
impl std::fmt::Debug for TcpPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("TcpPacket");
        s.field("psp_spi", &self.psp_spi)
            .field("ports", &self.ports);
        if let Some(subflow) = &self.subflow {
            s.field("subflow", subflow);
        }
        s.field("flags", &self.flags)
            .field("sequence", &self.sequence)
            .field("ack", &self.ack)
            .field("window", &self.window)
            .field("urgent", &self.urgent)
            .field("options", &self.options)
            .field("udp_encapsulation", &self.udp_encapsulation)
            .field("bad_checksum", &self.bad_checksum)
            .finish()
    }
}

/// TCP header flags as written: `S.`, `P.5`, `SEWA`, `-`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub fin: bool,
    pub syn: bool,
    pub rst: bool,
    pub psh: bool,
    pub ack: bool,
    pub urg: bool,
    pub ece: bool,
    pub cwr: bool,
    pub ae: bool,
    /// AccECN ACE field written as a digit (AE=4, CWR=2, ECE=1).
    pub ace: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpSequence {
    /// `START:END(LEN)`; `absolute` for nplab's `START:END(LEN)!` (no remapping).
    Range {
        start: u32,
        end: u32,
        len: u16,
        absolute: bool,
    },
    /// (nplab) `...(LEN)`: sequence number not checked.
    Ignored { len: u16 },
}

impl TcpSequence {
    pub fn payload_len(&self) -> u16 {
        match self {
            TcpSequence::Range { len, .. } | TcpSequence::Ignored { len } => *len,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOptions {
    /// No `<…>`: the packet must carry no options.
    None,
    /// `<...>`: options not checked (outbound only).
    Ignored(Span),
    List(Vec<Spanned<TcpOption>>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOption {
    Eol,
    Nop,
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    Sack(Vec<(u32, u32)>),
    Timestamp {
        /// None for nplab's `TS val ...`.
        val: Option<u32>,
        ecr: u32,
        /// nplab's `ecr N!`: not remapped.
        ecr_absolute: bool,
    },
    Md5(Vec<u8>),
    /// (nplab) `md5 valid`: an RFC 2385 digest computed with `--tcp_md5_secret` (inbound:
    /// written into the segment; outbound: the digest the live segment must carry).
    Md5Valid,
    /// Kind 34; `None` is a cookie request.
    FastOpen(Option<Vec<u8>>),
    /// Kind 254 with magic 0xF989.
    FastOpenExp(Option<Vec<u8>>),
    /// AccECN counters in the order written; the first name picks kind 172 (e0b) or 174 (e1b).
    AccEcn(Vec<(AccEcnCounter, u32)>),
    /// (nplab) `gen-KIND [HEX]` / `exp-EXID [HEX]`.
    Generic {
        kind: u8,
        experiment_id: Option<u16>,
        data: Vec<u8>,
    },
    /// (MPTCP fork) Kind 30, RFC 8684.
    Mptcp(super::mptcp::MptcpOption),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccEcnCounter {
    E0b,
    E1b,
    Ceb,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket {
    pub ports: Option<Ports>,
    pub payload_len: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpLitePacket {
    pub ports: Option<Ports>,
    pub payload_len: u16,
    pub checksum_coverage: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpPacket {
    /// Type name as written (`unreachable`, `type_5`); resolved per IP version at run time.
    pub icmp_type: Spanned<String>,
    pub code: Option<Spanned<String>>,
    pub mtu: Option<u32>,
    pub id: Option<u16>,
    pub echoed: IcmpEchoed,
}

/// What an ICMP error carries after its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IcmpEchoed {
    /// Nothing written: the echoed TCP header with sequence 0.
    Default,
    Tcp {
        start: u32,
        end: u32,
        len: u16,
        /// (nplab) `[START:END(LEN) / udp(SPORT > DPORT)]`: the echoed segment was TCP over UDP.
        udp_encapsulation: Option<Ports>,
    },
    Udp {
        len: u16,
    },
    /// (nplab) `[udplite(LEN, COVERAGE)]`.
    UdpLite {
        len: u16,
        checksum_coverage: u16,
    },
    /// (nplab) `[sctp(TAG)]` or `[sctp(TAG) / udp(SPORT > DPORT)]`: an SCTP common header
    /// with this verification tag.
    Sctp {
        tag: u32,
        udp_encapsulation: Option<Ports>,
    },
    /// `[raw (LEN)]`: no echoed header, LEN zero bytes.
    Raw {
        len: u16,
    },
}

// ---------------------------------------------------------------------------------------------
// SCTP (nplab dialect)

/// `sctp[(bad_crc32c|zero_checksum, tag=N)] [/ udp(A > B)]: CHUNKS`: an SCTP packet. The chunks
/// are kept as written (names checked against `catalog::sctp`); nothing here is encoded yet.
#[derive(Debug, Clone, PartialEq)]
pub struct SctpPacket {
    pub ports: Option<Ports>,
    /// `bad_crc32c`: an inbound packet with a wrong checksum.
    pub bad_crc32c: bool,
    /// `zero_checksum`: checksum field 0 (RFC 9653).
    pub zero_checksum: bool,
    /// `tag=N`: the verification tag, in place of the association's.
    pub tag: Option<u32>,
    /// `/ udp(SPORT > DPORT)`: SCTP over UDP (RFC 6951).
    pub udp_encapsulation: Option<Ports>,
    pub chunks: SctpChunks,
    /// Where `sctp` is written.
    pub keyword: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SctpChunks {
    /// `CHUNK[...]; CHUNK[...]`, in order (none is allowed: a packet of the common header).
    List(Vec<SctpItem>),
    /// `[0x0A, 0x00, 0x00, 0x04]`: the chunk bytes as written.
    Raw(Vec<u8>),
}

/// A chunk, parameter or error cause: `NAME[element, ...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SctpItem {
    pub name: Spanned<String>,
    pub elements: Vec<SctpElement>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SctpElement {
    /// `name=value`.
    Field {
        name: Spanned<String>,
        value: SctpValue,
    },
    /// A parameter or error cause inside a chunk (`STATE_COOKIE[...]` in `INIT_ACK[...]`).
    Item(SctpItem),
    /// `...`: the rest is not checked (outbound) or left out.
    Ellipsis(Span),
}

#[derive(Debug, Clone, PartialEq)]
pub enum SctpValue {
    /// `...`: any value (outbound) or the tool's choice (inbound).
    Any,
    Integer(i64),
    /// A name: chunk flags (`BE`, `T`), a chunk or parameter type name, a symbolic value.
    Word(String),
    Address(std::net::IpAddr),
    Bytes(ByteString),
    /// `[a, b, ...]`: bytes, stream ids, types, gap blocks, parameters.
    List(Vec<SctpValue>),
    /// `START:END` in a gap list.
    Range(i64, i64),
    /// `{a, b}` or `{a, b, c}` in a FORWARD-TSN id list.
    Tuple(Vec<i64>),
    /// A nested chunk or parameter (`chk=CHUNK[...]`, `param=HOSTNAME_ADDRESS[...]`).
    Item(SctpItem),
}

// ---------------------------------------------------------------------------------------------
// System calls

#[derive(Debug, Clone, PartialEq)]
pub struct Syscall {
    pub name: Spanned<String>,
    pub args: Vec<Expr>,
    pub result: Expr,
    /// `ERRNO` after the result, e.g. `EINPROGRESS`.
    pub errno: Option<Spanned<String>>,
    /// The free text in parentheses after the result.
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `...`: let the tool fill it in / don't care.
    Ellipsis,
    Integer(i64),
    /// A symbolic constant or other bare word (checked against the symbol table at parse time
    /// where the language requires a symbol).
    Word(String),
    /// Decoded bytes of one or more adjacent string literals; `trailing_ellipsis` for `"…"...`.
    Bytes {
        bytes: ByteString,
        trailing_ellipsis: bool,
    },
    /// `A | B | …`.
    BitOr(Vec<Expr>),
    /// `[ … ]`.
    Array(Vec<Expr>),
    /// `{ … }`.
    Struct(Vec<Expr>),
    /// `name=value` or `name(index)=value` (as in `msg_iov(1)=[…]`).
    Field {
        name: Spanned<String>,
        index: Option<Box<Expr>>,
        value: Box<Expr>,
    },
    /// `{flags [...], sum N, off N, key N, seq N}`: a GRE header (socket option value).
    Gre(GreHeader),
    /// `{(label N, tc N, [S], ttl N) …}`: an MPLS label stack (socket option value).
    Mpls(Vec<MplsEntry>),
    /// `inet_addr("…")`, `inet6_addr("…")`, `htons(N)`, `htonl(N)`.
    Call {
        function: Spanned<String>,
        args: Vec<Expr>,
    },
}

/// Bytes of a string literal; shown as `b"…"` with escapes.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ByteString(pub Vec<u8>);

impl fmt::Debug for ByteString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escaped: String = self
            .0
            .iter()
            .flat_map(|b| std::ascii::escape_default(*b))
            .map(char::from)
            .collect();
        write!(f, "b\"{escaped}\"")
    }
}
