//! The run's test network, resolved from the configuration with packetdrill's defaults: the
//! local and remote addresses and prefixes, the gateway, what packets carry and what the socket
//! API sees. Every backend sets its stack up from it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::cli::{Config, IpVersion};

/// Every address and family decision of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    pub ip_version: IpVersion,
    /// Addresses on the wire (IPv4 also in ipv4-mapped-ipv6 mode).
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
    pub remote_prefix_len: u8,
    pub gateway_ip: IpAddr,
    pub local_prefix_len: u8,
}

impl Addresses {
    /// Resolves `--ip_version`, `--local_ip`, `--remote_ip`, `--gateway_ip`, `--netmask_ip`.
    /// Without `--ip_version`, IPv4 (packetdrill picks by the host's primary address; a private
    /// namespace has none, so IPv4 is the stable choice). Without `--local_ip`, a fixed address
    /// in packetdrill's default range (it picks a random one; fixed keeps runs repeatable).
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let ip_version = config.ip_version.unwrap_or(IpVersion::Ipv4);
        let wire_v6 = ip_version == IpVersion::Ipv6;
        let check_family = |name: &str, ip: IpAddr| {
            if ip.is_ipv6() == wire_v6 {
                Ok(ip)
            } else {
                Err(format!(
                    "--{name}={ip} is not an {} address, but --ip_version is {}",
                    if wire_v6 { "IPv6" } else { "IPv4" },
                    ip_version.as_str()
                ))
            }
        };
        let local_ip = match config.local_ip {
            Some(ip) => check_family("local_ip", ip)?,
            None if wire_v6 => IpAddr::V6(Ipv6Addr::new(
                0xfd3d, 0xfa7b, 0xd17d, 0, 0, 0, 0x0a0b, 0x0c0d,
            )),
            None => IpAddr::V4(Ipv4Addr::new(192, 168, 42, 2)),
        };
        let (remote_ip, remote_prefix_len) = match &config.remote_ip {
            Some(prefix) => {
                let ip = check_family("remote_ip", prefix.addr)?;
                (
                    ip,
                    // Without a prefix the address itself is routed (scripts then `ip route
                    // change` that host route, e.g. mtu_probe/basic-v4).
                    prefix.prefix_len.unwrap_or(if wire_v6 { 128 } else { 32 }),
                )
            }
            None if wire_v6 => (
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                32,
            ),
            None => (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 24),
        };
        let gateway_ip = match config.gateway_ip {
            Some(ip) => check_family("gateway_ip", ip)?,
            None if wire_v6 => {
                IpAddr::V6(Ipv6Addr::new(0xfd3d, 0xfa7b, 0xd17d, 0x8888, 0, 0, 0, 0))
            }
            None => IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
        };
        if local_ip == remote_ip {
            return Err(format!(
                "live_remote_ip {remote_ip} is not remote: it is the local address"
            ));
        }
        let local_prefix_len = if wire_v6 {
            48
        } else {
            config.netmask_prefix_len()
        };
        Ok(Addresses {
            ip_version,
            local_ip,
            remote_ip,
            remote_prefix_len,
            gateway_ip,
            local_prefix_len,
        })
    }

    /// True when packets on the wire are IPv6.
    pub fn wire_ipv6(&self) -> bool {
        self.ip_version == IpVersion::Ipv6
    }

    /// AF_INET or AF_INET6: the domain of `socket(..., ...)`.
    pub fn socket_domain(&self) -> i32 {
        match self.ip_version {
            IpVersion::Ipv4 => libc::AF_INET,
            _ => libc::AF_INET6,
        }
    }

    /// An address as the socket API sees it (IPv4-mapped IPv6 in ipv4-mapped-ipv6 mode).
    pub fn socket_view(&self, ip: IpAddr) -> IpAddr {
        match (self.ip_version, ip) {
            (IpVersion::Ipv4MappedIpv6, IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
            _ => ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::OptionSetting;

    fn config(settings: &[(&str, &str)]) -> Config {
        let mut c = Config::default();
        for (n, v) in settings {
            c.apply(&OptionSetting::with_value(*n, *v)).unwrap();
        }
        c
    }

    #[test]
    fn run_all_ipv4_and_mapped_and_ipv6() {
        let v4 = [
            ("local_ip", "192.168.0.1"),
            ("gateway_ip", "192.168.0.1"),
            ("remote_ip", "192.0.2.1"),
        ];
        let a = Addresses::from_config(&config(&v4)).unwrap();
        assert_eq!(
            (a.remote_prefix_len, a.local_prefix_len, a.socket_domain()),
            (32, 16, libc::AF_INET)
        );
        let defaults = Addresses::from_config(&config(&[])).unwrap();
        assert_eq!(
            defaults.remote_prefix_len, 24,
            "the built-in default is 192.0.2.1/24"
        );
        let mut mapped = v4.to_vec();
        mapped.push(("ip_version", "ipv4-mapped-ipv6"));
        let a = Addresses::from_config(&config(&mapped)).unwrap();
        assert!(!a.wire_ipv6());
        assert_eq!(a.socket_view(a.local_ip).to_string(), "::ffff:192.168.0.1");
        let v6 = [
            ("ip_version", "ipv6"),
            ("local_ip", "fd3d:0a0b:17d6::1"),
            ("remote_ip", "fd3d:fa7b:d17d::1"),
        ];
        let a = Addresses::from_config(&config(&v6)).unwrap();
        assert_eq!((a.wire_ipv6(), a.socket_domain()), (true, libc::AF_INET6));
    }

    #[test]
    fn family_mismatch_is_an_error() {
        let e = Addresses::from_config(&config(&[
            ("ip_version", "ipv6"),
            ("local_ip", "192.168.0.1"),
        ]))
        .unwrap_err();
        assert!(
            e.contains("--local_ip=192.168.0.1 is not an IPv6 address"),
            "{e}"
        );
    }
}
