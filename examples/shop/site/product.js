// A product page: `?id=` names the product. Tells Nudge which product was viewed and at what
// price (high-value-scroll reads it), and what was added to the cart.
import { money, productArt, productById } from './catalog.js';
import { addToCart, setupPage, track } from './shop.js';

const product = productById(new URLSearchParams(location.search).get('id') ?? '');
const root = document.getElementById('product');

const reviews = [
  ['Maren', 5, 'Exactly as described, and it arrived in two days.'],
  ['Tomás', 4, 'Great on wet trails, and sturdier than it looks. Delivery took a day longer than promised.'],
  ['Priya', 5, 'Third one I have bought. Still the best I have found for the price.'],
];

if (!product) {
  document.title = 'Not found · Trailhead';
  root.innerHTML = '<h1>We could not find that product</h1><p><a href="/shop/">See all products</a></p>';
} else {
  document.title = `${product.name} · Trailhead`;
  root.innerHTML = `
    <div class="product">
      <div class="art">${productArt(product)}</div>
      <div>
        <h1>${product.name}</h1>
        <p class="lead">${product.tagline}</p>
        <span class="price">${money(product.price)}</span>
        <div class="buttons">
          <button type="button" id="add">Add to cart</button>
          <button type="button" class="secondary" data-nudge-click="help" aria-expanded="false" aria-controls="faq">Help</button>
        </div>
        <p class="note" id="added" role="status"></p>
        <dl class="faq" id="faq" hidden>
          <dt>When will it arrive?</dt><dd>Within 2 working days; free delivery from ${money(50)}.</dd>
          <dt>What if it does not fit?</dt><dd>Send it back within 30 days, free of charge.</dd>
          <dt>Can I talk to someone?</dt><dd>Yes: <a href="/shop/help">chat with our team</a>.</dd>
        </dl>
        <section class="section" aria-labelledby="details-title">
          <h2 id="details-title">Details</h2>
          <ul>${product.details.map((d) => `<li>${d}</li>`).join('')}</ul>
        </section>
        <section class="section" aria-labelledby="care-title">
          <h2 id="care-title">Materials and care</h2>
          <p>Made in Portugal in a factory audited every year. Wash cold, dry in the shade, and it will last for years of weekends.</p>
          <p>Every product comes with a two-year warranty. If something breaks, we repair it or send a new one.</p>
        </section>
        <section class="section" aria-labelledby="reviews-title">
          <h2 id="reviews-title">Reviews</h2>
          ${reviews.map(([who, stars, text]) => `<div class="review"><p><strong>${who}</strong> <span class="stars" aria-label="${stars} out of 5">${'★'.repeat(stars)}${'☆'.repeat(5 - stars)}</span></p><p>${text}</p></div>`).join('')}
        </section>
      </div>
    </div>`;
  track('product_viewed', { product_id: product.id, name: product.name, price: product.price, currency: 'EUR', url: location.href });
  document.getElementById('add').addEventListener('click', () => {
    addToCart(product);
    document.getElementById('added').innerHTML = `Added to your cart. <a href="/shop/cart">See the cart</a>`;
  });
  const help = root.querySelector('[data-nudge-click="help"]');
  help.addEventListener('click', () => {
    const faq = document.getElementById('faq');
    faq.hidden = !faq.hidden;
    help.setAttribute('aria-expanded', String(!faq.hidden));
  });
}
setupPage();
