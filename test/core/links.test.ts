/** Finding and rewriting the links of rendered messages, UTM parameters and the open pixel. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rewriteLinks, withOpenPixel, withUtm } from '../../src/core/delivery/links.js';

const tagged = (url: string, index: number): string => `T${index}(${url})`;

test('html: every <a href> with an absolute http(s) URL, entities decoded and escaped again; others kept', () => {
  const html = [
    '<p><a href="https://shop.example/cart?a=1&amp;b=2">Cart</a>',
    "<a class='x' href='http://shop.example/p/1'>P1</a>",
    '<a href="mailto:help@shop.example">Mail</a> <a href="#top">Top</a> <a href="tel:+441234">Call</a>',
    '<a data-nudge-notrack href="https://shop.example/privacy">Privacy</a>',
    '<img src="https://shop.example/logo.png"></p>',
  ].join('');
  const out = rewriteLinks({ html }, tagged)['html']!;
  assert.equal(
    out,
    [
      '<p><a href="T0(https://shop.example/cart?a=1&amp;b=2)">Cart</a>',
      "<a class='x' href='T1(http://shop.example/p/1)'>P1</a>",
      '<a href="mailto:help@shop.example">Mail</a> <a href="#top">Top</a> <a href="tel:+441234">Call</a>',
      '<a data-nudge-notrack href="https://shop.example/privacy">Privacy</a>',
      '<img src="https://shop.example/logo.png"></p>',
    ].join(''),
  );
  const seen: string[] = [];
  rewriteLinks({ html }, (url) => (seen.push(url), null));
  assert.deepEqual(seen, ['https://shop.example/cart?a=1&b=2', 'http://shop.example/p/1'], 'the rewriter gets the URL, not its HTML spelling');
});

test('text and body: bare URLs without trailing punctuation; link parts whole; titles, subjects and images untouched', () => {
  const content = {
    subject: 'See https://shop.example/a',
    text: 'Your cart: https://shop.example/cart. Or (https://shop.example/help), or https://shop.example/x?y=1!',
    body: 'Tap https://shop.example/p',
    url: ' https://shop.example/deep ',
    cta_url: 'https://shop.example/cta',
    icon: 'https://shop.example/icon.png',
    image_url: 'https://shop.example/hero.png',
    title: 'https://shop.example/t',
  };
  assert.deepEqual(rewriteLinks(content, tagged), {
    subject: 'See https://shop.example/a',
    text: 'Your cart: T0(https://shop.example/cart). Or (T1(https://shop.example/help)), or T2(https://shop.example/x?y=1)!',
    body: 'Tap T3(https://shop.example/p)',
    url: 'T4(https://shop.example/deep)',
    cta_url: 'T5(https://shop.example/cta)',
    icon: 'https://shop.example/icon.png',
    image_url: 'https://shop.example/hero.png',
    title: 'https://shop.example/t',
  });
  assert.deepEqual(rewriteLinks({ url: '/relative', text: 'no links here' }, tagged), { url: '/relative', text: 'no links here' });
});

test('UTM parameters are added, never overriding those the link has', () => {
  const utm = { source: 'nudge', medium: 'email', campaign: 'abandoned-cart', content: 'reminder' };
  assert.equal(withUtm('https://shop.example/cart?x=1#top', utm), 'https://shop.example/cart?x=1&utm_source=nudge&utm_medium=email&utm_campaign=abandoned-cart&utm_content=reminder#top');
  assert.equal(withUtm('https://shop.example/?utm_source=news', utm), 'https://shop.example/?utm_source=news&utm_medium=email&utm_campaign=abandoned-cart&utm_content=reminder');
  assert.equal(withUtm('not a url', utm), 'not a url');
});

test('the open pixel goes before </body>, or at the end', () => {
  assert.equal(withOpenPixel('<html><body><p>Hi</p></body></html>', 'https://n.example/t/o/x"y'), '<html><body><p>Hi</p><img src="https://n.example/t/o/x&quot;y" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0"></body></html>');
  assert.match(withOpenPixel('<p>Hi</p>', 'https://n.example/o'), /^<p>Hi<\/p><img src="https:\/\/n.example\/o"/);
});
