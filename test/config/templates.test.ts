/**
 * Template files: the examples are valid and render, every problem is located at
 * file:line:column (Liquid errors inside the part), and triggers are checked against the
 * templates they send.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { checkTemplateReferences, loadTemplates, parseTemplate } from '../../src/config/templates.js';
import { loadTriggers } from '../../src/config/triggers.js';
import { emptyProfile } from '../../src/core/profile.js';
import { renderMessage } from '../../src/core/templates/render.js';

const root = path.resolve(import.meta.dirname, '../..');
const examples = path.join(root, 'examples/shop');
const scratch = mkdtempSync(path.join(tmpdir(), 'nudge-templates-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const problems = (text: string): string[] => parseTemplate(text, 't.yaml').issues.map((i) => `${i.path}: ${i.message}`);

describe('the example project', () => {
  test('every template is valid, for the loader and the published JSON Schema, and every trigger finds its parts', () => {
    const { found, templates, issues } = loadTemplates(path.join(examples, 'templates'));
    assert.equal(found, true);
    assert.deepEqual(issues, []);
    assert.deepEqual([...templates.keys()].sort(), [
      'cart-email', 'cart-push-with-code', 'cart-reminder', 'expert-advice', 'first-order-discount', 'help-chat', 'live-chat-invitation', 'product-reminder', 'tenth-purchase-gift',
    ]);
    const schema = JSON.parse(readFileSync(path.join(root, 'schemas/template.schema.json'), 'utf8'));
    const validate = new Ajv({ strict: false }).compile(schema);
    for (const t of templates.values()) assert.ok(validate(parse(readFileSync(t.file, 'utf8'))), `${t.file}: ${JSON.stringify(validate.errors)}`);
    assert.equal(validate({ id: 'x', fax: { text: 'a' } }), false, 'the schema refuses, too');
    const { triggers } = loadTriggers(path.join(examples, 'triggers'));
    assert.deepEqual(checkTemplateReferences(triggers, templates, 'templates'), []);
  });

  test('every example renders on each of its channels for a user of the example shop', () => {
    const { templates } = loadTemplates(path.join(examples, 'templates'));
    const user = emptyProfile('shop', 'p-1', 0);
    user.userId = 'user-0382';
    user.traits = { name: 'Ada', email: 'ada@example.com', timezone: 'Europe/Berlin' };
    user.computed.events['order_completed'] = { count: 10, firstAt: 0, lastAt: 0, sums: { revenue: 812.4 } };
    const events: Record<string, { name: string; properties: Record<string, unknown> }> = {
      'cart-reminder': { name: 'cart_updated', properties: { item_count: 2, value: 258 } },
      'cart-push-with-code': { name: 'cart_updated', properties: { item_count: 2, value: 258 } },
      'cart-email': { name: 'cart_updated', properties: { item_count: 2, value: 258, items: [{ name: 'Rain jacket', price: 129, quantity: 2 }] } },
      'product-reminder': { name: 'Product', properties: { page_type: 'product', path: '/p/runner-42', title: 'Trail runner' } },
      'expert-advice': { name: 'scroll_depth', properties: { percent: 75, page_type: 'product', path: '/p/runner-42' } },
      'help-chat': { name: 'element_clicked', properties: { element: 'help', page_type: 'product', path: '/p/runner-42' } },
      'live-chat-invitation': { name: 'checkout_step_viewed', properties: { step: 'payment' } },
      'first-order-discount': { name: 'checkout_step_viewed', properties: { step: 'payment' } },
      'tenth-purchase-gift': { name: 'order_completed', properties: { order_id: 'o895', revenue: 217, currency: 'EUR' } },
    };
    for (const t of templates.values()) {
      const e = events[t.id]!;
      for (const channel of t.channels.keys()) {
        const result = renderMessage(t, channel, {
          user,
          event: { messageId: 'm', type: e.name === 'Product' ? 'page' : 'track', name: e.name, properties: e.properties as never, timestamp: Date.UTC(2026, 2, 2, 9) },
          message: { triggerId: 'tr', runId: 'r', stepId: 's', channel, template: t.id, variants: {}, ...(t.definition.code ? { code: 'CART-7K3M9P', code_expires_at: '2026-03-03T09:10:00.000Z' } : {}) },
        }, Date.UTC(2026, 2, 2, 9, 10));
        assert.ok(result.ok, `${t.id} on ${channel}: ${!result.ok && result.error.message}`);
        assert.match(Object.values(result.content).join('\n'), /Ada|Trail runner|€/, `${t.id} on ${channel} is personal`);
      }
    }
  });
});

describe('problems are located at file:line:column and named by field', () => {
  const cases: [string, string, string[]][] = [
    ['an unknown channel, at its key', 'id: x\nfax:\n  text: hi\n', ['t.yaml:2:1: fax: unknown option']],
    ['an unknown part', 'id: x\npush:\n  title: a\n  body: b\n  sound: ping\n', ['t.yaml:5:3: push.sound: unknown option']],
    ['a missing part', 'id: x\npush:\n  title: a\n', ["t.yaml:3:3: push: must have required property 'body'"]],
    ['a bad currency code', 'id: x\ndefault_currency: euro\nsms: { text: a }\n', ['t.yaml:2:19: default_currency: must match pattern "^[A-Z]{3}$"']],
    ['an email without a body', 'id: x\nemail:\n  subject: hi\n', ['t.yaml:3:3: email: an email needs an html or a text part (or both)']],
    ['an unknown filter, at its place in a quoted part', 'id: x\nsms:\n  text: "Hi {{ user.traits.name | shout }}"\n', ['t.yaml:3:13: sms.text: undefined filter: shout']],
    [
      'an unclosed tag on the third line of a block part',
      'id: x\nemail:\n  subject: s\n  html: |\n    <p>Hi</p>\n    <p>\n    {% if user.traits.vip %}VIP\n    </p>\n',
      ['t.yaml:7:5: email.html: tag {% if user.traits.vip %} not closed'],
    ],
    ['a variable no message has', 'id: x\nsms:\n  text: "{{ customer.name }}"\n', ['t.yaml:3:13: sms.text: unknown variable "customer" (known: user, event, message, now)']],
    ['an include', "id: x\nsms:\n  text: \"{% include 'package.json' %}\"\n", ['t.yaml:3:10: sms.text: templates cannot include other files']],
    ['a YAML syntax error', 'id: x\nsms: { text: a\n', ['t.yaml:3:1']],
  ];
  for (const [what, text, expected] of cases) {
    test(what, () => {
      const got = problems(text);
      if (expected.length === 1 && /^t\.yaml:\d+:\d+$/.test(expected[0]!)) assert.ok(got[0]?.startsWith(expected[0]!), got.join('\n'));
      else assert.deepEqual(got, expected);
    });
  }
});

test('two files with one template id: the second is refused, naming the first; a file is compiled again only when it changes', () => {
  const dir = path.join(scratch, 'dupes');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'a.yaml'), 'id: same\nsms: { text: a }\n');
  writeFileSync(path.join(dir, 'b.yml'), 'id: same\nsms: { text: b }\n');
  writeFileSync(path.join(dir, 'notes.txt'), 'not a template');
  const cache = new Map();
  const first = loadTemplates(dir, cache);
  assert.equal(first.templates.size, 1);
  assert.deepEqual(first.issues.map((i) => `${path.basename(i.path.split(':')[0]!)}:${i.path.split(':').slice(1).join(':')}: ${i.message}`), [
    `b.yml:1:5: id: template id "same" is also used by ${path.join(dir, 'a.yaml')}`,
  ]);
  const again = loadTemplates(dir, cache);
  assert.equal(again.templates.get('same'), first.templates.get('same'), 'unchanged text: the same compiled template');
  writeFileSync(path.join(dir, 'a.yaml'), 'id: same\nsms: { text: changed }\n');
  assert.notEqual(loadTemplates(dir, cache).templates.get('same'), first.templates.get('same'));
  assert.equal(loadTemplates(path.join(scratch, 'none')).found, false);
});

test('a trigger step whose template is missing or lacks the parts of its channel or fallback is located in the trigger file', () => {
  const dir = path.join(scratch, 'refs');
  mkdirSync(path.join(dir, 'triggers'), { recursive: true });
  mkdirSync(path.join(dir, 'templates'));
  writeFileSync(path.join(dir, 'templates/only-push.yaml'), 'id: only-push\npush: { title: a, body: b }\n');
  writeFileSync(
    path.join(dir, 'triggers/t.yaml'),
    'id: t\nentry: { event: a }\nsteps:\n  - send: push\n    template: only-push\n    fallback: [email]\n  - wait_for: [ { event: b } ]\n    timeout: 1m\n    on_timeout:\n      - send: sms\n        template: nowhere\n',
  );
  const { triggers } = loadTriggers(path.join(dir, 'triggers'));
  const { templates } = loadTemplates(path.join(dir, 'templates'));
  const file = path.join(dir, 'triggers/t.yaml');
  assert.deepEqual(checkTemplateReferences(triggers, templates, 'templates').map((i) => `${i.path.replace(file, 't.yaml')}: ${i.message}`), [
    `t.yaml:6:16: steps[0].fallback[0]: template "only-push" (${path.join(dir, 'templates/only-push.yaml')}) has no email parts for this fallback`,
    't.yaml:11:19: steps[1].on_timeout[0].template: no template "nowhere" in templates',
  ]);
});

test('nudge validate checks the templates and the steps that send them', () => {
  const project = path.join(scratch, 'project');
  cpSync(examples, project, { recursive: true });
  const run = () => spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), 'validate', '--config', path.join(project, 'nudge.yaml')], { cwd: root, encoding: 'utf8' });
  const clean = run();
  assert.equal(clean.status, 0, clean.stderr);
  assert.match(clean.stdout, /6 trigger\(s\) valid .*; 9 template\(s\) valid/);
  writeFileSync(path.join(project, 'templates/cart-email.yaml'), 'id: cart-email\nemail:\n  subject: "{{ user.traits.name | shout }}"\n  text: hi\n');
  writeFileSync(path.join(project, 'templates/gift.yaml'), 'id: gift\ncode: nope\nsms:\n  text: "{{ message.code }}"\n');
  const broken = run();
  assert.equal(broken.status, 1);
  assert.match(broken.stderr, /gift\.yaml:2:7: code: no code kind "nope" in nudge\.yaml `codes`/);
  assert.match(broken.stderr, /cart-email\.yaml:3:13: email\.subject: undefined filter: shout/);
  assert.match(broken.stderr, /abandoned-cart\.yaml:\d+:\d+: steps\[\d\]\.template: no template "cart-email"/);
});

test('every example template renders for a brand-new user and the least event its trigger accepts', () => {
  // What the README's tour sends: a user with no traits, events with only the properties the
  // example triggers' conditions need. A template that needs more must guard it with if/default.
  // Templates sent only to buyers (by a branch or an entry condition) get a user with orders.
  const userFor = (id: string, at: number) => {
    const user = emptyProfile('shop', 'u:new', at);
    if (id === 'live-chat-invitation' || id === 'tenth-purchase-gift') {
      const count = id === 'tenth-purchase-gift' ? 10 : 2;
      user.computed.events['order_completed'] = { count, firstAt: at - 86_400_000, lastAt: at, sums: { revenue: 30 * count } };
    }
    return user;
  };
  const { templates, issues } = loadTemplates(path.resolve(import.meta.dirname, '../../examples/shop/templates'));
  assert.deepEqual(issues, []);
  const leastEvent: Record<string, { name: string; properties: Record<string, unknown> }> = {
    'cart-reminder': { name: 'cart_updated', properties: { item_count: 2 } },
    'cart-push-with-code': { name: 'cart_updated', properties: { item_count: 2 } },
    'cart-email': { name: 'cart_updated', properties: { item_count: 2 } },
    'product-reminder': { name: 'page', properties: { page_type: 'product' } },
    'expert-advice': { name: 'scroll_depth', properties: { percent: 75, page_type: 'product' } },
    'help-chat': { name: 'element_clicked', properties: { element: 'help' } },
    'live-chat-invitation': { name: 'checkout_step_viewed', properties: { step: 'payment' } },
    'first-order-discount': { name: 'checkout_step_viewed', properties: { step: 'payment' } },
    'tenth-purchase-gift': { name: 'order_completed', properties: {} },
  };
  assert.deepEqual([...templates.keys()].sort(), Object.keys(leastEvent).sort());
  const t = Date.UTC(2026, 5, 1, 12);
  for (const [id, template] of templates) {
    const e = leastEvent[id]!;
    const event = { messageId: 'm1', type: e.name === 'page' ? ('page' as const) : ('track' as const), name: e.name === 'page' ? '' : e.name, properties: e.properties, timestamp: t };
    for (const channel of ['email', 'push', 'in_app', 'sms']) {
      if (!(channel in template.definition)) continue;
      const code = template.definition.code ? { code: 'CART-7K3M9P', code_expires_at: new Date(t + 86_400_000).toISOString() } : {};
      const message = { triggerId: 'x', runId: 'x:1', stepId: 's', channel, template: id, variants: {}, ...code };
      const result = renderMessage(template, channel, { user: userFor(id, t), event, message }, t);
      assert.ok(result.ok, `${id} ${channel}: ${result.ok ? '' : result.error.message}`);
    }
  }
});
