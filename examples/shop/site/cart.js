// The cart: change quantities, remove, apply a code, go to the checkout.
import { productArt } from './catalog.js';
import { cartLines, cartValue, coupon, couponFromAddress, discountOf, escapeHtml, money, saveCart, setCoupon, setupPage } from './shop.js';

const root = document.getElementById('cart');
couponFromAddress();

function render(message = '') {
  const lines = cartLines();
  if (lines.length === 0) {
    root.innerHTML = '<p class="lead">Your cart is empty.</p><p><a class="button" href="/shop/">See the products</a></p>';
    return;
  }
  const code = coupon();
  const subtotal = cartValue(lines);
  const discount = Math.round(subtotal * discountOf(code) * 100) / 100;
  root.innerHTML = `
    <table class="lines">
      <thead><tr><th scope="col">Product</th><th scope="col">Quantity</th><th scope="col" class="num">Price</th><th scope="col"><span class="visually-hidden">Remove</span></th></tr></thead>
      <tbody>${lines
        .map(
          (l) => `<tr>
          <td>${productArt(l.product)}<a href="/shop/product?id=${l.product.id}">${l.product.name}</a></td>
          <td><label><span class="visually-hidden">Quantity of ${l.product.name}</span><input type="number" min="0" max="9" value="${l.quantity}" data-id="${l.product.id}"></label></td>
          <td class="num">${money(l.product.price * l.quantity)}</td>
          <td class="num"><button type="button" class="secondary" data-remove="${l.product.id}">Remove<span class="visually-hidden"> ${l.product.name}</span></button></td>
        </tr>`,
        )
        .join('')}</tbody>
    </table>
    <div class="summary">
      <form id="code" data-nudge-ignore>
        <label>Discount code <input name="code" value="${escapeHtml(code)}" autocomplete="off" spellcheck="false"></label>
        <p><button type="submit" class="secondary">Apply</button></p>
      </form>
      <p class="note" role="status">${message}</p>
      <dl>
        <dt>Subtotal</dt><dd>${money(subtotal)}</dd>
        ${discount > 0 ? `<dt>Code ${code}</dt><dd>−${money(discount)}</dd>` : ''}
        <dt class="total">Total</dt><dd class="total">${money(subtotal - discount)}</dd>
      </dl>
      <a class="button" href="/shop/checkout">Checkout</a>
    </div>`;
}

root.addEventListener('change', (e) => {
  const id = e.target.dataset?.id;
  if (!id) return;
  const lines = cartLines().map((l) => (l.product.id === id ? { ...l, quantity: Math.max(0, Math.min(9, Number(e.target.value) || 0)) } : l));
  saveCart(lines.filter((l) => l.quantity > 0));
  render();
});
root.addEventListener('click', (e) => {
  const id = e.target.closest('[data-remove]')?.dataset.remove;
  if (!id) return;
  saveCart(cartLines().filter((l) => l.product.id !== id));
  render();
});
root.addEventListener('submit', (e) => {
  e.preventDefault();
  const code = new FormData(e.target).get('code').toString().trim().toUpperCase();
  if (code !== '' && discountOf(code) === 0) return render(`${escapeHtml(code)} is not a code we know.`);
  setCoupon(code);
  render(code ? `${code} applied: 10 % off.` : 'Code removed.');
});
render();
setupPage();
