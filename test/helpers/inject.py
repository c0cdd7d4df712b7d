#!/usr/bin/python3
"""Send raw ICMP echo requests out of a network interface, as a misbehaving VM would.

Each frame is built by hand (Ethernet, optionally one 802.1Q tag, IPv4, ICMP echo request)
and written with an AF_PACKET socket, so nothing in the sender's kernel routes, tags or
filters it: what OVN sees is exactly what this script wrote.

    inject.py --iface eth0 --src-mac MAC --dst-mac MAC --src-ip IP --dst-ip IP
              [--vlan VID] [--count N] [--interval SEC] [--ident ID]

Python 3 standard library only. Needs CAP_NET_RAW (root). Prints one line on success:
"sent N frames (vlan VID|untagged) SRC_MAC SRC_IP -> DST_MAC DST_IP on IFACE".
"""

import argparse
import ipaddress
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
ETH_P_8021Q = 0x8100
ICMP_ECHO_REQUEST = 8
IPPROTO_ICMP = 1


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's complement of the one's complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def mac_bytes(text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) in (1, 2) for p in parts):
        raise argparse.ArgumentTypeError(f"not a MAC address: {text!r}")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a MAC address: {text!r}") from None


def ipv4_bytes(text: str) -> bytes:
    try:
        return ipaddress.IPv4Address(text).packed
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IPv4 address: {text!r}") from None


def vlan_id(text: str) -> int:
    vid = int(text)
    if not 0 <= vid <= 4095:
        raise argparse.ArgumentTypeError(f"VLAN id out of range 0..4095: {vid}")
    return vid


def icmp_echo(ident: int, seq: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    csum = checksum(header + payload)
    return struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, csum, ident, seq) + payload


def ipv4_packet(src: bytes, dst: bytes, ip_id: int, payload: bytes) -> bytes:
    version_ihl = (4 << 4) | 5  # IPv4, 20-byte header, no options
    total_length = 20 + len(payload)
    flags_fragment = 0x4000  # DF
    ttl = 64

    def header(csum: int) -> bytes:
        return struct.pack(
            "!BBHHHBBH4s4s",
            version_ihl,
            0,
            total_length,
            ip_id,
            flags_fragment,
            ttl,
            IPPROTO_ICMP,
            csum,
            src,
            dst,
        )

    return header(checksum(header(0))) + payload


def ethernet_frame(dst: bytes, src: bytes, vlan: int | None, payload: bytes) -> bytes:
    if vlan is None:
        head = dst + src + struct.pack("!H", ETH_P_IP)
    else:
        tci = vlan & 0x0FFF  # priority 0, DEI 0
        head = dst + src + struct.pack("!HHH", ETH_P_8021Q, tci, ETH_P_IP)
    frame = head + payload
    # Pad to the 60-byte minimum (the NIC adds the FCS); the IPv4 total length bounds the packet.
    return frame + b"\x00" * max(0, 60 - len(frame))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iface", required=True, help="interface to send on (e.g. eth0)")
    p.add_argument("--src-mac", required=True, type=mac_bytes)
    p.add_argument("--dst-mac", required=True, type=mac_bytes)
    p.add_argument("--src-ip", required=True, type=ipv4_bytes)
    p.add_argument("--dst-ip", required=True, type=ipv4_bytes)
    p.add_argument("--vlan", type=vlan_id, default=None, help="802.1Q VID; untagged when absent")
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--interval", type=float, default=0.05, help="seconds between frames")
    p.add_argument("--ident", type=lambda s: int(s, 0), default=0x4F44, help="ICMP identifier")
    args = p.parse_args(argv)
    if args.count < 1:
        p.error("--count must be at least 1")

    payload = b"ovn-docker inject " + bytes(range(32))
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    except PermissionError as e:
        print(f"inject.py: AF_PACKET socket: {e} (needs CAP_NET_RAW)", file=sys.stderr)
        return 1
    with sock:
        try:
            sock.bind((args.iface, 0))
        except OSError as e:
            print(f"inject.py: bind to {args.iface}: {e}", file=sys.stderr)
            return 1
        for seq in range(1, args.count + 1):
            icmp = icmp_echo(args.ident & 0xFFFF, seq, payload)
            ip = ipv4_packet(args.src_ip, args.dst_ip, (args.ident + seq) & 0xFFFF, icmp)
            frame = ethernet_frame(args.dst_mac, args.src_mac, args.vlan, ip)
            sent = sock.send(frame)
            if sent != len(frame):
                print(f"inject.py: short write {sent} of {len(frame)} bytes", file=sys.stderr)
                return 1
            if seq < args.count and args.interval > 0:
                time.sleep(args.interval)

    tag = "untagged" if args.vlan is None else f"vlan {args.vlan}"
    src_mac = ":".join(f"{b:02x}" for b in args.src_mac)
    dst_mac = ":".join(f"{b:02x}" for b in args.dst_mac)
    src_ip = str(ipaddress.IPv4Address(args.src_ip))
    dst_ip = str(ipaddress.IPv4Address(args.dst_ip))
    print(f"sent {args.count} frames ({tag}) {src_mac} {src_ip} -> {dst_mac} {dst_ip} on {args.iface}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
