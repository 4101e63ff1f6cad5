// The product list.
import { money, productArt, products } from './catalog.js';
import { setupPage } from './shop.js';

const list = document.getElementById('products');
list.innerHTML = products
  .map(
    (p) => `<li class="card">
      ${productArt(p)}
      <div class="body">
        ${p.price >= 100 ? '<span class="tag">Expert pick</span>' : ''}
        <h3><a href="/shop/product?id=${p.id}">${p.name}</a></h3>
        <p>${p.tagline}</p>
        <span class="price">${money(p.price)}</span>
      </div>
    </li>`,
  )
  .join('');
document.getElementById('hero-art').innerHTML = productArt(products[0]);
setupPage();
