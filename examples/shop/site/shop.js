// What every page of the shop shares: the header with the cart, the cart itself (in
// localStorage), the events the shop sends Nudge besides those the snippet sees by itself, and
// the demo guide, which says what the example triggers will do and when.
import { currency, money, productById } from './catalog.js';

const keys = { cart: 'trailhead.cart', coupon: 'trailhead.coupon', orders: 'trailhead.orders', guide: 'trailhead.guide' };
const read = (key, fallback) => {
  try {
    return JSON.parse(localStorage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
};
const write = (key, value) => localStorage.setItem(key, JSON.stringify(value));

export const track = (event, properties) => window.nudge('track', event, properties);

/** Text made safe to put into HTML. */
export const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// --- The cart ----------------------------------------------------------------------------

/** [{ product, quantity }] of the products that still exist. */
export function cartLines() {
  return read(keys.cart, [])
    .map(({ id, quantity }) => ({ product: productById(id), quantity }))
    .filter((line) => line.product && line.quantity > 0);
}

export const cartCount = (lines = cartLines()) => lines.reduce((n, l) => n + l.quantity, 0);
export const cartValue = (lines = cartLines()) => lines.reduce((sum, l) => sum + l.product.price * l.quantity, 0);

/** Saves the cart and tells Nudge: what abandoned-cart starts on, and stops on when it is empty. */
export function saveCart(lines) {
  write(keys.cart, lines.map((l) => ({ id: l.product.id, quantity: l.quantity })));
  track('cart_updated', {
    item_count: cartCount(lines),
    value: cartValue(lines),
    currency,
    items: lines.map((l) => ({ product_id: l.product.id, name: l.product.name, price: l.product.price, quantity: l.quantity })),
    cart_url: new URL('/shop/cart', location.href).href,
  });
  showCartCount();
}

export function addToCart(product) {
  const lines = cartLines();
  const line = lines.find((l) => l.product.id === product.id);
  if (line) line.quantity += 1;
  else lines.push({ product, quantity: 1 });
  track('product_added', { sku: product.id, name: product.name, price: product.price, quantity: 1, currency });
  saveCart(lines);
}

/** The shop's codes: the personal ones Nudge hands out (CART-…) and the first-order one. */
export const discountOf = (code) => (/^CART-[A-Z0-9]{6}$/.test(code) || code === 'WELCOME10' ? 0.1 : 0);
export const coupon = () => read(keys.coupon, '');
export const setCoupon = (code) => write(keys.coupon, code);

/** A code in the address (?code=…, from a message's link) is applied to the cart. */
export function couponFromAddress() {
  const code = new URLSearchParams(location.search).get('code')?.trim().toUpperCase();
  if (code && discountOf(code) > 0) setCoupon(code);
}

export const ordersPlaced = () => read(keys.orders, 0);

/** An order: the cart bought. `order_completed` ends the abandoned cart and redeems its code. */
export function placeOrder() {
  const lines = cartLines();
  const code = coupon();
  const revenue = Math.round(cartValue(lines) * (1 - discountOf(code)) * 100) / 100;
  const orderId = `T${Date.now().toString(36).toUpperCase()}`;
  track('order_completed', {
    order_id: orderId,
    revenue,
    currency,
    ...(code ? { coupon: code } : {}),
    products: lines.map((l) => ({ product_id: l.product.id, name: l.product.name, price: l.product.price, quantity: l.quantity })),
  });
  write(keys.cart, []);
  write(keys.coupon, '');
  write(keys.orders, ordersPlaced() + 1);
  showCartCount();
  return { orderId, revenue, count: ordersPlaced() };
}

// --- The header --------------------------------------------------------------------------

function showCartCount() {
  const count = cartCount();
  const badge = document.querySelector('.cart-link .count');
  if (!badge) return;
  badge.textContent = String(count);
  badge.closest('a').setAttribute('aria-label', `Cart, ${count} ${count === 1 ? 'item' : 'items'}`);
}

function header() {
  const top = document.getElementById('top');
  top.innerHTML = `
    <a class="brand" href="/shop/"><svg viewBox="0 0 32 32" aria-hidden="true"><path d="M3 27L13 9l6 10 4-6 6 14z" fill="currentColor"/></svg>Trailhead</a>
    <nav aria-label="Shop">
      <a href="/shop/">Products</a>
      <a href="/shop/help">Help</a>
      <a class="cart-link" href="/shop/cart">Cart <span class="count">0</span></a>
    </nav>`;
  const here = location.pathname.replace(/\/$/, '') || '/shop';
  for (const a of top.querySelectorAll('nav a')) if (new URL(a.href).pathname.replace(/\/$/, '') === here) a.setAttribute('aria-current', 'page');
  showCartCount();
}

// --- The demo guide ----------------------------------------------------------------------

/** What the example triggers do on each kind of page; {3m} is a duration shown at the demo's time scale. */
const hints = {
  home: ['Open a product and leave it: {3m} later a push arrives (without notifications allowed, a message here).', 'Read an expensive product (€100 or more) to its end, or press Help: a message within seconds.'],
  product: [
    'Leave this page as it is: {3m} after the product page, a push; without notifications, a message here. Adding to the cart, or another page, cancels it.',
    'Scroll to the end of an expensive product (€100 or more), or press Help: a message within seconds.',
    'Add it to the cart: a reminder at once, your personal 10 % code {10m} later (push, else email, else here), an email after {24h}. Buying stops it all.',
  ],
  cart: ['Leave the cart: your personal code comes {10m} after the last change (push, else email if you gave one at checkout, else here), a last email after {24h}.', 'Buying, or emptying the cart, stops what is pending.'],
  checkout: ['Give an email on the first step to get the cart\'s emails in the demo mailbox.', 'Stay on the payment step for {2m} without paying: a first-order discount (a chat invitation once you have ordered).', 'Every order counts: the 10th brings a gift by email.'],
  help: ['Triggers, templates and this shop are files in examples/shop: edit one and reload.'],
};

function duration(text, scale) {
  const minutes = { '2m': 2, '3m': 3, '10m': 10, '24h': 1440 }[text];
  const real = (minutes * 60) / scale;
  const label = minutes >= 60 ? `${minutes / 60} hours` : `${minutes} minutes`;
  if (scale === 1) return label;
  const shown = real >= 60 ? `${Math.round(real / 60)} min` : `${Math.round(real * 10) / 10} s`;
  return `${label} (${shown} here)`;
}

async function guide() {
  let demo = { timeScale: 1, mail: false };
  try {
    demo = await (await fetch('/shop/api/demo')).json();
  } catch {
    // The guide still shows, at real time.
  }
  const type = document.body.dataset.nudgePageType;
  const aside = document.createElement('aside');
  aside.className = 'guide';
  aside.setAttribute('aria-labelledby', 'guide-title');
  const open = read(keys.guide, true);
  const speed = demo.timeScale === 1 ? 'real time' : `time ×${demo.timeScale}`;
  aside.innerHTML = `
    <details ${open ? 'open' : ''}>
      <summary><span id="guide-title">Demo guide</span> <span class="speed">${speed}</span></summary>
      <ul>${(hints[type] ?? hints.home).map((h) => `<li>${h.replace(/\{(\w+)\}/g, (_, d) => duration(d, demo.timeScale))}</li>`).join('')}</ul>
      <p class="actions">
        <button type="button" data-action="push">Allow notifications</button>
        <button type="button" data-action="orders">Count 9 past orders</button>
        <button type="button" data-action="reset">Start over</button>
        ${demo.mail ? '<a href="/shop/mail">Demo mailbox</a>' : ''}
        <a href="/">Dashboard</a> <span>(admin key <code>demo-admin-key</code>)</span>
      </p>
      <p class="status" role="status"></p>
    </details>`;
  aside.querySelector('details').addEventListener('toggle', (e) => write(keys.guide, e.target.open));
  const status = aside.querySelector('.status');
  aside.querySelector('[data-action="push"]').addEventListener('click', async () => {
    status.textContent = 'Asking your browser…';
    try {
      if (typeof window.nudge.subscribePush !== 'function') return void (status.textContent = 'The snippet is still loading: try again in a moment.');
      const result = await window.nudge.subscribePush({ serviceWorker: '/shop/nudge-sw.js' });
      status.textContent = {
        subscribed: 'Notifications on: pushes come through your browser\'s push service.',
        denied: 'Notifications are blocked for this site: messages come here instead.',
        default: 'No answer: messages come here instead.',
        unsupported: 'This browser has no web push: messages come here instead.',
      }[result];
    } catch (error) {
      status.textContent = `No push: ${error.message}`;
    }
  });
  aside.querySelector('[data-action="orders"]').addEventListener('click', () => {
    const missing = Math.max(0, 9 - ordersPlaced());
    for (let i = 0; i < missing; i++) track('order_completed', { order_id: `PAST-${i + 1}`, revenue: 15, currency });
    write(keys.orders, ordersPlaced() + missing);
    status.textContent = missing > 0 ? `${missing} earlier orders counted: your next one is the 10th.` : 'You have 9 orders or more already.';
  });
  aside.querySelector('[data-action="reset"]').addEventListener('click', () => {
    for (const key of Object.values(keys)) localStorage.removeItem(key);
    sessionStorage.clear();
    window.nudge('reset');
    location.href = '/shop/';
  });
  document.getElementById('top').after(aside);
}

/** Call once a page has rendered its content. */
export function setupPage() {
  header();
  void guide();
}

export { money };
