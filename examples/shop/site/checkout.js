// The checkout, in two steps on one page: the address (who is buying: the email goes to Nudge
// as a trait, so the cart's emails reach the demo mailbox), then the payment. Each step is
// marked data-nudge-checkout-step, so the snippet reports it when it appears; payment-hesitation
// waits for `payment_submitted`.
import { productArt } from './catalog.js';
import { cartLines, cartValue, coupon, couponFromAddress, discountOf, escapeHtml, money, placeOrder, setCoupon, setupPage, track } from './shop.js';

const stateKey = 'trailhead.checkout';
const root = document.getElementById('checkout');
const state = JSON.parse(sessionStorage.getItem(stateKey) ?? '{"step":"address"}');
const save = () => sessionStorage.setItem(stateKey, JSON.stringify(state));
couponFromAddress();

const field = (name, label, attributes = '', wide = false) =>
  `<label${wide ? ' class="wide"' : ''}>${label}<input name="${name}" value="${escapeHtml(state[name] ?? '')}" ${attributes}></label>`;

function showStep(step) {
  for (const li of document.querySelectorAll('#steps li')) {
    if (li.dataset.step === step) li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
  }
}

function summary() {
  const lines = cartLines();
  const code = coupon();
  const subtotal = cartValue(lines);
  const discount = Math.round(subtotal * discountOf(code) * 100) / 100;
  return {
    total: subtotal - discount,
    html: `<div class="summary wide"><dl>
      ${lines.map((l) => `<dt>${l.quantity} × ${l.product.name}</dt><dd>${money(l.product.price * l.quantity)}</dd>`).join('')}
      ${discount > 0 ? `<dt>Code ${code}</dt><dd>−${money(discount)}</dd>` : ''}
      <dt class="total">Total</dt><dd class="total">${money(subtotal - discount)}</dd>
    </dl></div>`,
  };
}

function address() {
  showStep('address');
  root.innerHTML = `
    <section data-nudge-checkout-step="address" aria-labelledby="address-title">
      <h2 id="address-title">Where should it go?</h2>
      <form class="panel" id="address" data-nudge-form="address">
        ${field('name', 'Name', 'autocomplete="name" required')}
        ${field('email', 'Email', 'type="email" autocomplete="email" required')}
        ${field('street', 'Street and number', 'autocomplete="street-address" required', true)}
        ${field('postcode', 'Postcode', 'autocomplete="postal-code" required')}
        ${field('city', 'City', 'autocomplete="address-level2" required')}
        <p class="wide"><button type="submit">Continue to payment</button></p>
      </form>
    </section>`;
  root.querySelector('form').addEventListener('submit', (e) => {
    e.preventDefault();
    Object.assign(state, Object.fromEntries(new FormData(e.target)), { step: 'payment' });
    save();
    // A guest checkout: the visitor stays anonymous, with a name and an address to write to.
    window.nudge('identify', null, { name: state.name, email: state.email });
    payment();
  });
}

function payment(message = '') {
  showStep('payment');
  const { total, html } = summary();
  root.innerHTML = `
    <section data-nudge-checkout-step="payment" aria-labelledby="payment-title">
      <h2 id="payment-title">Payment</h2>
      <p class="note">Paying as ${escapeHtml(state.name ?? '')} &lt;${escapeHtml(state.email ?? '')}&gt; · <button type="button" class="secondary" id="back">Change the address</button></p>
      <form class="panel" id="payment" data-nudge-form="payment">
        ${field('card', 'Card number', 'inputmode="numeric" autocomplete="cc-number" placeholder="4242 4242 4242 4242" required', true)}
        ${field('expiry', 'Expiry', 'autocomplete="cc-exp" placeholder="MM / YY" required')}
        ${field('cvc', 'Security code', 'inputmode="numeric" autocomplete="cc-csc" placeholder="123" required')}
        <label class="wide">Discount code<input name="code" value="${escapeHtml(coupon())}" autocomplete="off" spellcheck="false"></label>
        <p class="note wide" role="status">${message}</p>
        ${html}
        <p class="wide"><button type="submit">Pay ${money(total)}</button></p>
      </form>
    </section>`;
  root.querySelector('#back').addEventListener('click', address);
  const form = root.querySelector('form');
  form.elements.code.addEventListener('change', (e) => {
    const code = e.target.value.trim().toUpperCase();
    if (code !== '' && discountOf(code) === 0) return payment(`${escapeHtml(code)} is not a code we know.`);
    setCoupon(code);
    payment(code ? `${code} applied: 10 % off.` : '');
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    track('payment_submitted', { method: 'card' });
    const order = placeOrder();
    sessionStorage.removeItem(stateKey);
    done(order);
  });
}

function done({ orderId, revenue, count }) {
  showStep('');
  root.innerHTML = `
    <section class="done" aria-labelledby="done-title">
      <h2 id="done-title">Thank you${state.name ? `, ${escapeHtml(state.name)}` : ''}!</h2>
      <p>Order ${orderId}, ${money(revenue)}: it is on its way. Whatever Nudge still had pending for your cart is cancelled.</p>
      <p>${count === 10 ? 'This is your 10th order: a gift is on its way, and an email says so.' : `Orders so far: ${count}. The 10th brings a gift.`}</p>
      <p><a class="button" href="/shop/">Keep shopping</a></p>
    </section>`;
}

if (cartLines().length === 0) {
  root.innerHTML = '<p class="lead">Your cart is empty.</p><p><a class="button" href="/shop/">See the products</a></p>';
} else if (state.step === 'payment') payment();
else address();
setupPage();
