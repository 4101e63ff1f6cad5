// The demo mailbox: the mail catcher's messages (GET /shop/api/mail), newest first, checked every
// two seconds; the one chosen is shown with its HTML body in a sandboxed frame (no scripts, links
// open a new tab) and its text body and headers below.
const list = document.getElementById('list');
const reader = document.getElementById('reader');
const news = document.getElementById('news');
let shownIds = null;
let selected = null;

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const when = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

async function refresh() {
  const { items } = await (await fetch('/shop/api/mail')).json();
  const ids = items.map((m) => m.id).join(',');
  if (ids === shownIds) return;
  const fresh = shownIds === null ? 0 : items.filter((m) => !shownIds.split(',').includes(String(m.id))).length;
  shownIds = ids;
  if (fresh > 0) news.textContent = `${fresh} new ${fresh === 1 ? 'message' : 'messages'}.`;
  list.innerHTML = items.length
    ? items
        .map(
          (m) => `<li><button type="button" data-id="${m.id}" aria-current="${m.id === selected}">
            <span class="subject">${escapeHtml(m.subject || '(no subject)')}</span>
            <span class="meta">To ${escapeHtml(m.to)} · ${when(m.receivedAt)}</span></button></li>`,
        )
        .join('')
    : '<li><p class="note empty">Nothing yet. Give your email at checkout and leave the cart: your personal code comes here.</p></li>';
}

async function show(id) {
  selected = id;
  for (const b of list.querySelectorAll('button')) b.setAttribute('aria-current', String(Number(b.dataset.id) === id));
  const mail = await (await fetch(`/shop/api/mail/${id}`)).json();
  reader.innerHTML = `
    <h2>${escapeHtml(mail.subject || '(no subject)')}</h2>
    <p class="note">From ${escapeHtml(mail.from)}<br>To ${escapeHtml(mail.to)}<br>${when(mail.receivedAt)}</p>
    ${mail.htmlUrl ? `<iframe title="The message" sandbox="allow-popups allow-popups-to-escape-sandbox" src="${mail.htmlUrl}"></iframe>` : ''}
    ${mail.text !== null ? `<details ${mail.htmlUrl ? '' : 'open'}><summary>Text version</summary><pre>${escapeHtml(mail.text)}</pre></details>` : ''}
    <details><summary>Headers</summary><pre>${mail.headers.map((h) => `${escapeHtml(h.name)}: ${escapeHtml(h.value)}`).join('\n')}</pre></details>`;
}

list.addEventListener('click', (e) => {
  const id = e.target.closest('button[data-id]')?.dataset.id;
  if (id) void show(Number(id));
});
await refresh();
setInterval(() => void refresh().catch(() => {}), 2000);
