/**
 * The address check of channels that connect to URLs they are given (webhooks, push endpoints
 * that browsers hand in): a URL whose host is, or resolves to, anything but a public unicast
 * address (loopback, RFC 1918, link-local and cloud metadata, CGNAT, unique local IPv6, IPv4
 * embedded in IPv6 …) is refused, unless private networks are allowed.
 *
 * The check runs inside the socket's own `lookup` (`guardedLookup`, given to the HTTP agent), so
 * the address checked is the address connected to: no second resolution a rebinding DNS server
 * could answer differently. Host header and TLS server name stay the URL's host name. A host that
 * is itself an IP address is connected to without a lookup: `literalAddressRefusal` checks it.
 */
import dns from 'node:dns';
import net, { type LookupFunction } from 'node:net';

export interface ResolvedAddress {
  address: string;
  /** 4 or 6. */
  family: number;
}

/** Resolves a host name to all its addresses. */
export type Resolve = (hostname: string) => Promise<ResolvedAddress[]>;

/** The system resolver (`node:dns` lookup, as sockets use by default). */
export const systemResolve: Resolve = (hostname) => dns.promises.lookup(hostname, { all: true });

/** Thrown from the socket's lookup, so that a refusal can be told from a network error. */
export class RefusedAddressError extends Error {
  override readonly name = 'RefusedAddressError';
}

/**
 * The refusal of a URL whose host is a non-public IP address, or undefined for a host name or a
 * public address.
 */
export function literalAddressRefusal(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const range = net.isIP(host) ? privateAddressRange(host) : undefined;
  return range ? refusal(host, host, range) : undefined;
}

/**
 * A lookup for an HTTP agent's sockets: all addresses are resolved and, unless `allowPrivate`,
 * checked; the socket is handed only those, so it can connect to nothing else. A refused host
 * fails the socket with a `RefusedAddressError`.
 */
export function guardedLookup(resolve: Resolve, allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    const answer = async (): Promise<ResolvedAddress[]> => {
      const found = await resolve(hostname);
      if (!allowPrivate) {
        // Any non-public address refuses the host, even among public ones: which address the
        // socket picks is not ours to predict, and a mixed answer is a rebinding signature.
        for (const { address } of found) {
          const range = privateAddressRange(address);
          if (range) throw new RefusedAddressError(refusal(hostname, address, range));
        }
      }
      const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
      const usable = family ? found.filter((a) => a.family === family) : found;
      if (usable.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return usable;
    };
    answer().then(
      (addresses) => {
        // node asks for all addresses when it may try several (autoSelectFamily), else for one.
        const first = addresses[0]!;
        if (options.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}

function refusal(host: string, address: string, range: string): string {
  return `refused: ${host} resolves to a private address (${address}: ${range}); allow it with allowPrivateNetworks`;
}

// --- Address classification ---------------------------------------------------------------

interface Range {
  bytes: Uint8Array;
  bits: number;
  name: string;
}

function range(cidr: string, name: string): Range {
  const [address = '', bits = ''] = cidr.split('/');
  const bytes = net.isIPv4(address) ? ipv4Bytes(address) : ipv6Bytes(address);
  if (!bytes) throw new Error(`bad range ${cidr}`);
  return { bytes, bits: Number(bits), name: `${name} ${cidr}` };
}

const ipv4Ranges: readonly Range[] = [
  range('0.0.0.0/8', 'this network'), // 0.0.0.0 reaches the local host on Linux
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'carrier-grade NAT'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local, cloud metadata'),
  range('172.16.0.0/12', 'private'),
  range('192.168.0.0/16', 'private'),
  range('198.18.0.0/15', 'benchmarking'), // also handed out as fake addresses by some local DNS proxies
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved, broadcast'),
];

const ipv6Ranges: readonly Range[] = [
  range('::/128', 'unspecified'), // connecting to it reaches the local host
  range('::1/128', 'loopback'),
  range('fc00::/7', 'unique local'),
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'site-local'),
  range('ff00::/8', 'multicast'),
];

/** IPv6 forms that carry an IPv4 address, and where: they reach that IPv4 address. */
const embeddingRanges: readonly (Range & { offset: number })[] = [
  { ...range('::ffff:0:0/96', 'IPv4-mapped'), offset: 12 },
  { ...range('::/96', 'IPv4-compatible'), offset: 12 },
  { ...range('64:ff9b::/96', 'NAT64'), offset: 12 },
  { ...range('2002::/16', '6to4'), offset: 2 },
];

/**
 * The non-public range `address` falls in, named with its CIDR (`loopback 127.0.0.0/8`, or
 * `loopback 127.0.0.0/8 via IPv4-mapped ::ffff:0:0/96` for an IPv4 address inside IPv6), or
 * undefined for a public unicast address. What is not an IP address counts as non-public.
 */
export function privateAddressRange(address: string): string | undefined {
  const v4 = ipv4Bytes(address);
  if (v4) return ipv4Ranges.find((r) => inRange(v4, r))?.name;
  const v6 = ipv6Bytes(address);
  if (!v6) return 'not an IP address';
  const own = ipv6Ranges.find((r) => inRange(v6, r));
  if (own) return own.name;
  for (const embedding of embeddingRanges) {
    if (!inRange(v6, embedding)) continue;
    const inner = v6.subarray(embedding.offset, embedding.offset + 4);
    const innerRange = ipv4Ranges.find((r) => inRange(inner, r));
    if (innerRange) return `${innerRange.name} via ${embedding.name}`;
  }
  return undefined;
}

function inRange(bytes: Uint8Array, r: Range): boolean {
  if (bytes.length !== r.bytes.length) return false;
  const whole = r.bits >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== r.bytes[i]) return false;
  const rest = r.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((bytes[whole]! ^ r.bytes[whole]!) & mask) === 0;
}

function ipv4Bytes(address: string): Uint8Array | undefined {
  if (!net.isIPv4(address)) return undefined;
  return Uint8Array.from(address.split('.').map(Number));
}

function ipv6Bytes(text: string): Uint8Array | undefined {
  const address = text.replace(/%.*$/, ''); // a zone id (fe80::1%eth0) does not change the address
  if (!net.isIPv6(address)) return undefined;
  // A trailing dotted IPv4 part (::ffff:127.0.0.1) becomes its two 16-bit groups.
  const expanded = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`,
  );
  const [head = '', tail] = expanded.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  return bytes;
}
