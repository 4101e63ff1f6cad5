/**
 * Realistic Segment `/v1/batch` bodies for load generation, cheap to send many times.
 *
 * A pool of bodies is built once. Each body is kept as pre-encoded pieces split where the
 * messageIds go, so a request is one `Buffer.concat` with a prefix unique to that request: every
 * event of every request has its own messageId, and deduplication drops nothing.
 *
 * The mix follows a shop's traffic: ~60% track (product and checkout events), ~30% page (browser,
 * with anonymousId), ~10% identify (traits). Properties carry ~10 fields; context carries library,
 * page, userAgent, ip, locale and timezone. Event i of the pool belongs to user perm(i) of
 * `users`, so one pass over the pool touches every user once when pool events = users.
 */
import { mulberry32 } from './random.js';

export interface BatchPoolOptions {
  /** Distinct bodies in the pool. */
  bodies: number;
  eventsPerBatch: number;
  /** Distinct users the events are spread over. */
  users: number;
  /** Seed of the deterministic random source. Default 1. */
  seed?: number;
}

export interface BatchPool {
  /** The i-th body (modulo the pool size), with messageIds starting with `prefix`. */
  body(i: number, prefix: string): Buffer;
  /** Mean body size in bytes. */
  meanBodyBytes: number;
}

const marker = '~MID~';

export function buildBatchPool(options: BatchPoolOptions): BatchPool {
  const random = mulberry32(options.seed ?? 1);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const total = options.bodies * options.eventsPerBatch;
  const stride = coprimeStride(options.users);
  const now = Date.now();
  const bodies: Buffer[][] = [];
  let bytes = 0;
  for (let b = 0; b < options.bodies; b++) {
    const batch: object[] = [];
    for (let e = 0; e < options.eventsPerBatch; e++) {
      const g = b * options.eventsPerBatch + e;
      const user = ((g % total) * stride) % options.users;
      const at = new Date(now - Math.floor(random() * 60_000)).toISOString();
      batch.push(makeEvent(user, `${marker}${b}-${e}`, at, random, pick));
    }
    const json = JSON.stringify({ batch, sentAt: new Date(now).toISOString() });
    const pieces = json.split(marker);
    const parts: Buffer[] = [];
    pieces.forEach((piece, i) => {
      if (i > 0) parts.push(Buffer.alloc(0)); // placeholder for the prefix
      parts.push(Buffer.from(piece));
    });
    bodies.push(parts);
    bytes += Buffer.byteLength(json) - (pieces.length - 1) * marker.length;
  }
  return {
    meanBodyBytes: Math.round(bytes / options.bodies),
    body(i, prefix) {
      const parts = bodies[i % bodies.length]!;
      const p = Buffer.from(prefix);
      // Odd slots hold the prefix; the array is reused, the returned Buffer is fresh.
      for (let k = 1; k < parts.length; k += 2) parts[k] = p;
      return Buffer.concat(parts);
    },
  };
}

const products = Array.from({ length: 200 }, (_, i) => ({
  product_id: `p-${1000 + i}`,
  sku: `SKU-${(i * 7919) % 100000}`,
  name: `Product ${i}`,
  brand: ['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli'][i % 5]!,
  category: ['Shoes', 'Shirts', 'Bags', 'Hats', 'Socks', 'Jackets'][i % 6]!,
  price: Math.round((5 + ((i * 37) % 200)) * 100) / 100 + 0.99,
}));
const trackEvents = ['Product Viewed', 'Product Viewed', 'Product Added', 'Cart Viewed', 'Checkout Started', 'Order Completed', 'Products Searched'];
const pages = ['/', '/shoes', '/shirts', '/bags', '/cart', '/checkout', '/account', '/search'];
const userAgents = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
];
const locales = ['en-US', 'de-DE', 'fr-FR', 'en-GB', 'es-ES'];
const timezones = ['America/New_York', 'Europe/Berlin', 'Europe/Paris', 'Europe/London', 'Europe/Madrid'];

function makeEvent(user: number, messageId: string, timestamp: string, random: () => number, pick: <T>(items: readonly T[]) => T): object {
  const path = pick(pages);
  const page = { path, referrer: 'https://www.google.com/', search: '', title: `Shop ${path}`, url: `https://shop.example.com${path}` };
  const ip = `10.${user % 256}.${(user >> 8) % 256}.${(user >> 16) % 256}`;
  const base = { messageId, userId: `user-${user}`, timestamp };
  const r = random();
  if (r < 0.6) {
    const product = pick(products);
    const quantity = 1 + Math.floor(random() * 3);
    return {
      ...base,
      type: 'track',
      event: pick(trackEvents),
      properties: { ...product, quantity, currency: 'EUR', value: Math.round(product.price * quantity * 100) / 100, position: Math.floor(random() * 24), coupon: random() < 0.1 ? 'WINTER10' : null },
      context: { library: { name: 'analytics-node', version: '3.1.0' }, page, userAgent: pick(userAgents), ip, locale: pick(locales), timezone: pick(timezones) },
    };
  }
  const browser = { library: { name: 'analytics.js', version: 'next-1.84.3' }, page, userAgent: pick(userAgents), ip, locale: pick(locales), timezone: pick(timezones) };
  if (r < 0.9) {
    return {
      ...base,
      anonymousId: `anon-${user}`,
      type: 'page',
      name: page.title,
      properties: { ...page, category: path.split('/')[1] || 'home', width: 1280 + Math.floor(random() * 4) * 160, height: 720, scroll: Math.floor(random() * 100), variant: random() < 0.5 ? 'A' : 'B' },
      context: browser,
    };
  }
  return {
    ...base,
    anonymousId: `anon-${user}`,
    type: 'identify',
    traits: { email: `user-${user}@example.com`, firstName: `First${user % 997}`, lastName: `Last${user % 991}`, plan: pick(['free', 'pro', 'team']), createdAt: '2025-03-01T10:00:00.000Z', company: pick(['Acme', 'Globex', 'Initech']), country: pick(['US', 'DE', 'FR', 'GB', 'ES']), newsletter: random() < 0.5, orders: Math.floor(random() * 20), lifetimeValue: Math.round(random() * 200000) / 100 },
    context: browser,
  };
}

/** A stride that visits every residue modulo n exactly once. */
function coprimeStride(n: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let s = Math.floor(n * 0.618) | 1;
  while (gcd(s, n) !== 1) s += 2;
  return s;
}

