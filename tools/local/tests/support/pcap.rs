//! Reading the pcap files `net capture` writes, enough for a test to check them: the file
//! header, each record, and the TCP destination of an Ethernet/IPv4 frame. Written here from
//! the format's description so the test does not trust the code it checks.

use std::net::Ipv4Addr;

/// Ethernet, the link type of a Linux bridge.
pub const LINKTYPE_ETHERNET: u32 = 1;

pub struct Pcap {
    pub link_type: u32,
    pub snap_len: u32,
    /// Each record's captured bytes, in order.
    pub frames: Vec<Vec<u8>>,
}

/// Parses a whole pcap file (microsecond or nanosecond timestamps, either byte order).
pub fn parse(bytes: &[u8]) -> Result<Pcap, String> {
    let header = bytes
        .get(..24)
        .ok_or_else(|| format!("{} bytes: shorter than a pcap header", bytes.len()))?;
    let magic_le = u32::from_le_bytes(header[..4].try_into().unwrap());
    let little = match magic_le {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        other => return Err(format!("not a pcap file (magic {other:#010x})")),
    };
    let u16_at = |b: &[u8], at: usize| {
        let two: [u8; 2] = b[at..at + 2].try_into().unwrap();
        if little {
            u16::from_le_bytes(two)
        } else {
            u16::from_be_bytes(two)
        }
    };
    let u32_at = |b: &[u8], at: usize| {
        let four: [u8; 4] = b[at..at + 4].try_into().unwrap();
        if little {
            u32::from_le_bytes(four)
        } else {
            u32::from_be_bytes(four)
        }
    };
    let version = (u16_at(header, 4), u16_at(header, 6));
    if version != (2, 4) {
        return Err(format!("pcap version {version:?}, expected (2, 4)"));
    }
    let snap_len = u32_at(header, 16);
    let link_type = u32_at(header, 20);
    let mut frames = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let record = bytes
            .get(at..at + 16)
            .ok_or_else(|| format!("record {} has a cut header at byte {at}", frames.len()))?;
        let included = u32_at(record, 8) as usize;
        let original = u32_at(record, 12) as usize;
        if included > original || included > snap_len as usize {
            return Err(format!(
                "record {}: {included} bytes kept of {original}, snap length {snap_len}",
                frames.len()
            ));
        }
        let data = bytes
            .get(at + 16..at + 16 + included)
            .ok_or_else(|| format!("record {} is cut short", frames.len()))?;
        frames.push(data.to_vec());
        at += 16 + included;
    }
    Ok(Pcap {
        link_type,
        snap_len,
        frames,
    })
}

/// The destination address and port of an Ethernet frame carrying IPv4 TCP.
pub fn tcp_destination(frame: &[u8]) -> Option<(Ipv4Addr, u16)> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..)?;
    if ip.first()? >> 4 != 4 || *ip.get(9)? != 6 {
        return None;
    }
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let to: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
    let tcp = ip.get(header_len..)?;
    let port = u16::from_be_bytes(tcp.get(2..4)?.try_into().ok()?);
    Some((Ipv4Addr::from(to), port))
}
