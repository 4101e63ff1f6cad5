#!/usr/bin/env node
// Writes examples/shop/history.ndjson: one day of the demo shop (Monday 2 March 2026, UTC) as
// Segment-spec events, one per line, sorted by timestamp, for `nudge simulate`. Deterministic: a
// seeded PRNG and a fixed date, so running it again gives the same file byte for byte.
//
//   node scripts/make-history.mjs [output] [--users N]
//
// The visitors are drawn to exercise every example trigger (examples/shop/triggers/): product
// pages left without acting, carts abandoned, emptied or bought, hesitation on the payment step
// by first-time and returning buyers, a few regulars reaching their 10th order, anonymous
// visitors who log in (merging into a known profile, sometimes each with a cart of their own),
// visitors reading most of an expensive product's page, some clicking its help button, and a
// few events delivered twice (same messageId), as SDK retries do.
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const usersAt = args.indexOf('--users');
const visitors = usersAt >= 0 ? Number(args[usersAt + 1]) : 400;
const output = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--users') ?? path.resolve(import.meta.dirname, '../examples/shop/history.ndjson');

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;
const day0 = Date.UTC(2026, 2, 2, 0, 0, 0);

/** mulberry32: small, seeded, good enough to vary a demo. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(20260302);
const between = (lo, hi) => lo + Math.floor(random() * (hi - lo));
const pick = (list) => list[Math.floor(random() * list.length)];
const chance = (p) => random() < p;

const products = [
  ['runner-42', 'Trail runner', 89],
  ['city-7', 'City sneaker', 69],
  ['rain-3', 'Rain jacket', 129],
  ['wool-1', 'Merino socks', 15],
  ['pack-20', 'Day pack', 59],
  ['cap-2', 'Running cap', 19],
];
const zones = ['Europe/Berlin', 'Europe/London', 'America/New_York', 'Asia/Tokyo'];

const lines = [];
let seq = 0;
/** One event of `who` ({userId?, anonymousId?}) at time `t` (ms since the epoch). */
function emit(who, t, type, fields = {}) {
  const event = { type, messageId: `msg-${String(++seq).padStart(6, '0')}`, ...who, ...fields, timestamp: new Date(Math.round(t)).toISOString() };
  lines.push({ t: Math.round(t), n: seq, event });
  return event;
}
const page = (who, t, pageType, extra = {}) =>
  emit(who, t, 'page', { name: pageType === 'product' ? 'Product' : pageType, properties: { page_type: pageType, path: `/${pageType}`, ...extra } });
const track = (who, t, event, properties = {}) => emit(who, t, 'track', { event, properties });

/** Views a product and returns the time after it. */
function viewProduct(who, t) {
  const [sku, title] = pick(products);
  page(who, t, 'product', { sku, title, path: `/p/${sku}` });
  return t;
}

/** Adds to cart: product_added, then the cart. Returns [time, items]. */
function addToCart(who, t, items) {
  const [sku, , price] = pick(products);
  track(who, t, 'product_added', { sku, price, quantity: 1 });
  track(who, t + between(2, 8) * second, 'cart_updated', { item_count: items, value: price * items });
  return t + 10 * second;
}

/** Checkout: the steps, and on the payment step either a quick submit or a hesitation. Returns the order time. */
function checkout(who, t, { hesitate }) {
  track(who, t, 'checkout_step_viewed', { step: 'shipping' });
  t += between(20, 90) * second;
  track(who, t, 'checkout_step_viewed', { step: 'payment' });
  t += hesitate ? between(150, 420) * second : between(15, 100) * second;
  track(who, t, 'payment_submitted', { method: pick(['card', 'paypal', 'klarna']) });
  t += between(3, 10) * second;
  track(who, t, 'order_completed', { order_id: `o${seq}`, revenue: between(20, 240), currency: 'EUR' });
  return t;
}

const identify = (who, t, name) =>
  emit(who, t, 'identify', { traits: { email: `${who.userId}@example.com`, name, timezone: pick(zones) }, context: { timezone: pick(zones) } });

const names = ['Ada', 'Ben', 'Cleo', 'Dev', 'Ema', 'Finn', 'Gia', 'Hal', 'Ines', 'Jon', 'Kai', 'Lea', 'Mo', 'Nia', 'Oli', 'Pia'];

for (let i = 0; i < visitors; i++) {
  const anon = { anonymousId: `v-${String(i).padStart(4, '0')}` };
  const user = { userId: `user-${String(i).padStart(4, '0')}` };
  const name = pick(names);
  // Most traffic in the day, some at night; every story ends within the day.
  let t = day0 + between(0, 20 * hour) + between(0, 60) * second;
  const kind = random();

  if (kind < 0.3) {
    // Browsers: a product page or a few; the push comes 3 minutes after the last one, unless they
    // go on to another page first.
    const pages = between(1, 4);
    for (let k = 0; k < pages; k++) {
      viewProduct(anon, t);
      t += (chance(0.5) ? between(20, 170) : between(190, 900)) * second;
    }
  } else if (kind < 0.55) {
    // Carts: add, then abandon (the sequence runs), empty the cart, or come back and buy.
    viewProduct(anon, t);
    t = addToCart(anon, t + between(20, 150) * second, between(1, 4));
    const then = random();
    if (then < 0.45) {
      page(anon, t + between(10, 60) * second, 'cart');
    } else if (then < 0.6) {
      track(anon, t + between(1, 40) * minute, 'cart_updated', { item_count: 0, value: 0 });
    } else if (then < 0.8) {
      checkout(anon, t + between(1, 8) * minute, { hesitate: false });
    } else {
      // Comes back hours later, after the push, and buys.
      checkout(anon, t + between(1, 6) * hour, { hesitate: chance(0.3) });
    }
  } else if (kind < 0.8) {
    // Known customers buying: some hesitate on the payment step (first order: a discount).
    identify(user, t, name);
    viewProduct(user, t + between(5, 30) * second);
    t = addToCart(user, t + between(40, 120) * second, between(1, 3));
    t = checkout(user, t + between(10, 60) * second, { hesitate: chance(0.35) });
    if (chance(0.4)) {
      // Back in the evening for a second order; hesitating now brings the live-chat invitation.
      t += between(1, 3) * hour;
      viewProduct(user, t);
      t = addToCart(user, t + between(20, 90) * second, 1);
      checkout(user, t + between(10, 60) * second, { hesitate: chance(0.5) });
    }
  } else if (kind < 0.95) {
    // Two devices: seen logged in on one, then anonymous on the phone, then logs in there too.
    // The anonymous profile merges into the known one, bringing its runs along; when both
    // profiles have an abandoned cart, the phone's run ends as merged.
    identify(user, t, name);
    viewProduct(user, t + between(5, 20) * second);
    if (chance(0.5)) t = addToCart(user, t + between(30, 90) * second, 1);
    t += between(20, 90) * minute;
    viewProduct(anon, t);
    t = addToCart(anon, t + between(30, 120) * second, between(1, 3));
    t += between(1, 20) * minute;
    emit({ ...user, ...anon }, t, 'identify', { traits: { email: `${user.userId}@example.com`, name } });
    if (chance(0.4)) checkout(user, t + between(1, 5) * minute, { hesitate: false });
  } else {
    // Regulars (an office reordering supplies): many small orders a day, the 10th gets a gift.
    identify(user, t, name);
    t = day0 + between(0, 2 * hour);
    const orders = between(9, 13);
    for (let k = 0; k < orders; k++) {
      track(user, t, 'cart_updated', { item_count: 1, value: 15 });
      track(user, t + between(20, 100) * second, 'order_completed', { order_id: `o${seq}`, revenue: 15, currency: 'EUR' });
      t += between(40, 110) * minute;
    }
  }
}

// A few deliveries twice, as a retrying SDK does: same messageId, a moment later.
for (let k = 0; k < 5; k++) {
  const original = lines[between(0, lines.length)];
  lines.push({ t: original.t + 1500, n: ++seq, event: { ...original.event } });
}

// Micro-moments, drawn from a generator of their own so that the day above stays as it was:
// the page of an expensive product read to its end (or half of it), sometimes a help button.
const momentRandom = prng(20260303);
const momentBetween = (lo, hi) => lo + Math.floor(momentRandom() * (hi - lo));
const expensive = [['rain-3', 'Rain jacket', 129], ['watch-9', 'Trail watch', 249]];
for (let i = 0; i < Math.ceil(visitors / 10); i++) {
  const who = { anonymousId: `m-${String(i).padStart(4, '0')}` };
  const [sku, title, price] = expensive[i % expensive.length];
  const on = { page_type: 'product', path: `/p/${sku}` };
  let t = day0 + momentBetween(0, 20 * hour);
  page(who, t, 'product', { sku, title, path: on.path });
  track(who, t + second, 'product_viewed', { product_id: sku, name: title, price });
  const deepest = momentRandom() < 0.6 ? 100 : 50;
  for (const percent of [25, 50, 75, 100].filter((p) => p <= deepest)) {
    t += momentBetween(3, 20) * second;
    track(who, t, 'scroll_depth', { percent, ...on });
  }
  if (momentRandom() < 0.3) track(who, t + momentBetween(5, 60) * second, 'element_clicked', { element: 'help', ...on });
}

lines.sort((a, b) => a.t - b.t || a.n - b.n);
writeFileSync(output, lines.map((l) => JSON.stringify(l.event)).join('\n') + '\n');
console.log(`${path.relative(process.cwd(), output)}: ${lines.length} events of ${visitors} visitors on ${new Date(day0).toISOString().slice(0, 10)}`);
