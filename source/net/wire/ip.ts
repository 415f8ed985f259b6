import { isIP } from 'node:net';
import { BadPacket, UsageError } from '../core/errors.js';

/**
 * The one IP address codec: an IPv4 or IPv6 literal to its 4 or 16 network
 * bytes and back. STUN's (XOR-)MAPPED-ADDRESS (RFC 8489 §14.1-14.2) and our
 * introductions, invite codes and NAT messages (nat/introduce.ts) all carry
 * addresses this way; the family is told by the length, and each format
 * writes its own family byte around it.
 *
 * Decoding prints RFC 5952 text (§4: lower case, no leading zeros, the
 * longest run of two or more zero groups as `::`, the first on a tie) and an
 * IPv4-mapped address as `::ffff:a.b.c.d` (§5), which `normalizeIp` turns
 * into plain IPv4, so a peer never gets two spellings.
 */

export const IPV4_LENGTH = 4;
export const IPV6_LENGTH = 16;

/**
 * The network bytes of an IP literal (a zone such as `%eth0` is dropped: it
 * means nothing to another host). Text that is not an IP literal is the
 * caller's bug, since every `Addr` holds one, so it throws `UsageError`
 * rather than putting something else on the wire.
 */
export function ipToBytes(address: string): Buffer {
  const family = isIP(address);
  if (family === 4) return ipv4Bytes(address);
  if (family === 6) return ipv6Bytes(address);
  throw new UsageError(`not an IP address: "${address}"`);
}

/** An address read off the wire: 4 bytes are IPv4, 16 are IPv6; any other length is a `BadPacket`. */
export function ipFromBytes(bytes: Uint8Array): string {
  if (bytes.length === IPV4_LENGTH) return bytes.join('.');
  if (bytes.length === IPV6_LENGTH) return ipv6Text(bytes);
  throw new BadPacket('malformed', `an IP address of ${bytes.length} bytes`);
}

/** Only called on text `isIP` accepted, so every part is a decimal 0-255. */
function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

/** Only called on text `isIP` accepted as IPv6 (RFC 4291 §2.2). */
function ipv6Bytes(address: string): Buffer {
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // A trailing dotted quad (::ffff:1.2.3.4, RFC 4291 §2.2 form 3) is the last two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const b = ipv4Bytes(dotted[1]);
    text = `${text.slice(0, dotted.index)}${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...new Array<string>(fill).fill('0'), ...tailGroups];
  const out = Buffer.alloc(IPV6_LENGTH);
  groups.forEach((g, i) => {
    out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return out;
}

function isV4Mapped(ip: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (ip[i] !== 0) return false;
  return ip[10] === 0xff && ip[11] === 0xff;
}

/** RFC 5952 text (see the module comment). */
function ipv6Text(ip: Uint8Array): string {
  if (isV4Mapped(ip)) return `::ffff:${ip.subarray(12).join('.')}`;
  const groups: number[] = [];
  for (let i = 0; i < IPV6_LENGTH; i += 2) groups.push((ip[i]! << 8) | ip[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  // RFC 5952 §4.2.2: a single zero group is not shortened.
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
