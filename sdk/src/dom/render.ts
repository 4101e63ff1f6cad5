/**
 * Shows an in-app message on the page: a toast (bottom right, stacked), a banner (top) or a modal
 * (centred over a backdrop). Text goes in as text, never as HTML; links and images only with
 * http(s) URLs (inbox.ts `safeUrl`).
 *
 * Accessible: a toast or banner is a `status` region (announced politely); a modal is a labelled
 * `dialog` with `aria-modal`, takes the focus (its first control), keeps Tab inside it and gives
 * the focus back when it closes. Every control is a real link or button; Escape dismisses a
 * message the focus is in.
 *
 * Styles: classes prefixed `nudge-` in a <style> put first in <head>, so the site's own rules win
 * at equal specificity, and custom properties with defaults to set on :root or any ancestor:
 * --nudge-bg, --nudge-fg, --nudge-accent, --nudge-accent-fg, --nudge-font, --nudge-radius,
 * --nudge-shadow, --nudge-backdrop, --nudge-z.
 */
import { safeUrl, styleOf, type InboxMessage, type MessageLabels } from '../inbox.js';

export type MessageAction = 'clicked' | 'dismiss' | 'not_relevant';

const z = 'z-index:var(--nudge-z,2147483000)';
const accent = 'var(--nudge-accent,#0b57d0)';
const messageCss =
  `.nudge-msg{box-sizing:border-box;position:relative;margin:0;padding:16px 44px 16px 16px;max-width:min(420px,calc(100vw - 32px));background:var(--nudge-bg,#fff);color:var(--nudge-fg,#1f2328);font:var(--nudge-font,15px/1.45 system-ui,sans-serif);border-radius:var(--nudge-radius,10px);box-shadow:var(--nudge-shadow,0 8px 30px rgba(0,0,0,.22))}` +
  `.nudge-stack{position:fixed;right:16px;bottom:16px;display:flex;flex-direction:column;gap:8px;${z}}` +
  `.nudge-banner{position:fixed;top:0;left:0;right:0;max-width:none;border-radius:0;${z}}` +
  `.nudge-backdrop{position:fixed;inset:0;display:flex;align-items:center;justify-content:center;background:var(--nudge-backdrop,rgba(0,0,0,.45));${z}}` +
  `.nudge-title{font-weight:600;margin:0 0 4px}.nudge-body{margin:0}` +
  `.nudge-image{display:block;max-width:100%;border-radius:6px;margin:0 0 8px}` +
  `.nudge-actions{display:flex;flex-wrap:wrap;align-items:center;gap:12px;margin-top:12px}` +
  `.nudge-cta{background:${accent};color:var(--nudge-accent-fg,#fff);padding:6px 14px;border-radius:6px;text-decoration:none;font-weight:600}` +
  `.nudge-close,.nudge-not-relevant{font:inherit;color:inherit;background:none;border:0;padding:4px;cursor:pointer}` +
  `.nudge-close{position:absolute;top:6px;right:6px;font-size:22px;line-height:1}.nudge-not-relevant{text-decoration:underline;opacity:.8}` +
  `.nudge-msg :focus-visible{outline:2px solid ${accent};outline-offset:2px}`;

/** Shows the message; `act` is told of the user's action, after which the message is gone. */
export function renderMessage(doc: Document, item: InboxMessage, labels: MessageLabels, act: (action: MessageAction) => void): void {
  if (!doc.getElementById('nudge-css')) {
    const style = el(doc, 'style');
    style.id = 'nudge-css';
    style.textContent = messageCss;
    doc.head.prepend(style);
  }
  const { content } = item;
  const kind = styleOf(content.style);
  const modal = kind === 'modal';
  const base = doc.location.href;
  const box = el(doc, 'div', `nudge-msg nudge-${kind}`);
  const previousFocus = doc.activeElement as HTMLElement | null;
  let root: HTMLElement = box;

  const close = (action: MessageAction) => {
    root.remove();
    if (doc.querySelector('.nudge-stack:empty')) doc.querySelector('.nudge-stack')!.remove();
    if (modal) previousFocus?.focus?.();
    act(action);
  };
  const button = (className: string, text: string, action: MessageAction) => {
    const b = el(doc, 'button', className, text);
    b.type = 'button';
    b.onclick = () => close(action);
    return b;
  };

  const dismiss = button('nudge-close', '×', 'dismiss');
  dismiss.setAttribute('aria-label', labels.dismiss);
  box.append(dismiss);
  const image = safeUrl(content.image_url, base);
  if (image) {
    const img = el(doc, 'img', 'nudge-image');
    img.src = image;
    img.alt = '';
    box.append(img);
  }
  const heading = content.title ? el(doc, 'p', 'nudge-title', content.title) : null;
  const text = content.body ? el(doc, 'p', 'nudge-body', content.body) : null;
  for (const [part, id] of [[heading, 'title'], [text, 'body']] as const) {
    if (!part) continue;
    part.id = `nudge-${id}-${item.id}`;
    box.append(part);
  }
  const actions = el(doc, 'div', 'nudge-actions');
  const cta = safeUrl(content.cta_url, base);
  if (cta && content.cta_label) {
    const link = el(doc, 'a', 'nudge-cta', content.cta_label);
    link.href = cta;
    // The page may unload as the link is followed: the report goes by beacon.
    link.onclick = () => close('clicked');
    actions.append(link);
  }
  actions.append(button('nudge-not-relevant', labels.notRelevant, 'not_relevant'));
  box.append(actions);

  box.onkeydown = (e) => {
    if (e.key === 'Escape') close('dismiss');
    if (!modal || e.key !== 'Tab') return;
    const controls = box.querySelectorAll<HTMLElement>('a[href],button');
    const first = controls[0]!;
    const last = controls[controls.length - 1]!;
    if (e.shiftKey ? doc.activeElement === first : doc.activeElement === last) {
      e.preventDefault();
      (e.shiftKey ? last : first).focus();
    }
  };

  if (modal) {
    box.setAttribute('role', 'dialog');
    box.setAttribute('aria-modal', 'true');
    box.setAttribute('aria-labelledby', (heading ?? text)!.id);
    if (heading && text) box.setAttribute('aria-describedby', text.id);
    root = el(doc, 'div', 'nudge-backdrop');
    root.append(box);
    doc.body.append(root);
    (box.querySelector<HTMLElement>('.nudge-cta') ?? box.querySelector<HTMLElement>('.nudge-not-relevant'))!.focus();
    return;
  }
  box.setAttribute('role', 'status');
  if (kind === 'banner') {
    doc.body.prepend(box);
    return;
  }
  let stack = doc.querySelector('.nudge-stack');
  if (!stack) {
    stack = el(doc, 'div', 'nudge-stack');
    doc.body.append(stack);
  }
  stack.append(box);
}

function el<K extends keyof HTMLElementTagNameMap>(doc: Document, tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = doc.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
