/**
 * Template rendering: the data a part sees, the helper filters in the user's locale and time
 * zone, strictness (missing variables and filters), no file access, limits, and the render time
 * standing in for the wall clock.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { emptyProfile, type Profile } from '../../src/core/profile.js';
import type { TemplateDefinition } from '../../src/core/templates/definition.js';
import { compileTemplate, renderMessage, renderOutbound, type CompiledTemplate, type RenderData } from '../../src/core/templates/render.js';
import type { OutboundMessage } from '../../src/core/triggers/state.js';

const now = Date.UTC(2026, 2, 29, 0, 30); // the night Europe moves its clocks forward (01:00 UTC)

function compile(definition: Omit<TemplateDefinition, 'id'> & { id?: string }): CompiledTemplate {
  const result = compileTemplate({ id: 't', ...definition } as TemplateDefinition, 'templates/t.yaml');
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  return result.template;
}

function problems(definition: object): string[] {
  const result = compileTemplate({ id: 't', ...definition } as TemplateDefinition, 'templates/t.yaml');
  assert.equal(result.ok, false, 'expected problems');
  return result.ok ? [] : result.problems.map((p) => `${p.path.join('.')}${p.within ? `@${p.within.line}:${p.within.column}` : ''}: ${p.message}`);
}

function user(traits: Record<string, unknown> = {}, computed: Partial<Profile['computed']> = {}): Profile {
  const p = emptyProfile('w', 'p-1', 0);
  p.userId = 'ann';
  p.traits = traits as Profile['traits'];
  Object.assign(p.computed, computed);
  return p;
}

const data = (u: Profile | null, properties: Record<string, unknown> = {}): RenderData => ({
  user: u,
  event: { messageId: 'm-1', type: 'track', name: 'cart_updated', properties: properties as never, timestamp: Date.UTC(2026, 2, 28, 23, 15) },
  message: { triggerId: 'abandoned-cart', runId: 'abandoned-cart:x', stepId: 'nudge', channel: 'in_app', template: 't', variants: { subject: 'b' } },
});

function render(t: CompiledTemplate, channel: string, d: RenderData): Record<string, string> {
  const result = renderMessage(t, channel, d, now);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.error));
  // Intl separates with narrow and no-break spaces; compared as plain spaces.
  return Object.fromEntries(Object.entries(result.content).map(([k, v]) => [k, v.replace(/[\u00a0\u202f]/g, ' ')]));
}

const failure = (t: CompiledTemplate, channel: string, d: RenderData): string => {
  const result = renderMessage(t, channel, d, now);
  assert.equal(result.ok, false, 'expected a failure');
  return result.ok ? '' : result.error.message;
};

describe('data', () => {
  test('user, event, message and now, per channel part', () => {
    const t = compile({
      in_app: {
        title: '{{ user.traits.name }} ({{ user.userId }}, {{ user.computed.eventCount }} events)',
        body: '{{ event.name }}: {{ event.properties.item_count }} at {{ event.timestamp }}; {{ message.triggerId }}/{{ message.stepId }} {{ message.variants.subject }} {{ now }}',
      },
      sms: { text: 'only sms' },
    });
    assert.deepEqual(render(t, 'in_app', data(user({ name: 'Ann' }, { eventCount: 7 }), { item_count: 2 })), {
      title: 'Ann (ann, 7 events)',
      body: 'cart_updated: 2 at 2026-03-28T23:15:00.000Z; abandoned-cart/nudge b 2026-03-29T00:30:00.000Z',
    });
  });

  test('optional parts absent from the file are absent from the content', () => {
    const t = compile({ push: { title: 'a', body: 'b' } });
    assert.deepEqual(render(t, 'push', data(user())), { title: 'a', body: 'b' });
  });

  test('a channel the template has no parts for is a failure naming the file', () => {
    const t = compile({ push: { title: 'a', body: 'b' } });
    assert.equal(failure(t, 'email', data(user())), 'templates/t.yaml: template "t" has no email parts');
  });

  test('loops over event properties, and `default` for a missing trait', () => {
    const t = compile({
      sms: { text: "Hi {{ user.traits.name | default: 'there' }}:{% for i in event.properties.items %} {{ i.qty }}×{{ i.name }}{% endfor %}{% if user.traits.vip %} VIP{% endif %}" },
    });
    assert.equal(render(t, 'sms', data(user(), { items: [{ name: 'cap', qty: 1 }, { name: 'socks', qty: 3 }] })).text, 'Hi there: 1×cap 3×socks');
  });

  test('the email html part escapes values (unless | raw); other parts do not', () => {
    const t = compile({ email: { subject: '{{ user.traits.name }}', html: '<p>{{ user.traits.name }} {{ user.traits.name | raw }}</p>', text: '{{ user.traits.name }}' } });
    assert.deepEqual(render(t, 'email', data(user({ name: '<b>Ann</b> & co' }))), {
      subject: '<b>Ann</b> & co',
      html: '<p>&lt;b&gt;Ann&lt;/b&gt; &amp; co <b>Ann</b> & co</p>',
      text: '<b>Ann</b> & co',
    });
  });

  test('renderOutbound renders an outbox message from the templates in force', () => {
    const t = compile({ id: 'cart', push: { title: '{{ message.template }} via {{ message.channel }}', body: '{{ event.properties.value }}' } });
    const message = { template: 'cart', triggerId: 'tr', runId: 'r', stepId: 's', variants: {}, entry: data(null).event!, channel: 'in_app' } as unknown as OutboundMessage;
    message.entry.properties = { value: 5 };
    const templates = new Map([['cart', t]]);
    assert.deepEqual(renderOutbound(templates, message, 'push', user(), now), { ok: true, content: { title: 'cart via push', body: '5' } });
    const missing = renderOutbound(templates, { ...message, template: 'gone' }, 'push', user(), now);
    assert.deepEqual(missing, { ok: false, error: { code: 'unknown_template', message: 'no template "gone"' } });
  });
});

describe('filters in the user locale and time zone', () => {
  test('money: the template default currency, a given one, the user locale, an explicit locale', () => {
    const t = compile({
      default_currency: 'EUR',
      sms: { text: "{{ event.properties.value | money }} | {{ event.properties.value | money: 'USD' }} | {{ 1234.5 | money: 'JPY', 'ja-JP' }}" },
    });
    assert.equal(render(t, 'sms', data(user({}, { locale: 'de-DE' }), { value: 1234.5 })).text, '1.234,50 € | 1.234,50 $ | ￥1,235');
    assert.equal(render(t, 'sms', data(user(), { value: 1234.5 })).text, '€1,234.50 | $1,234.50 | ￥1,235', 'en-US without a locale');
  });

  test('money: a missing currency or a non-number is a clear render error', () => {
    const t = compile({ sms: { text: '{{ event.properties.value | money }}' } });
    assert.match(failure(t, 'sms', data(user(), { value: 3 })), /^templates\/t\.yaml: sms\.text: money: no currency/);
    const u = compile({ default_currency: 'EUR', sms: { text: '{{ event.properties.value | money }}' } });
    assert.match(failure(u, 'sms', data(user(), { value: 'lots' })), /money: expected an amount, got "lots"/);
  });

  test('local_date: in the user time zone, across the DST change, in their locale', () => {
    const t = compile({ sms: { text: "{{ event.timestamp | local_date: 'medium', 'short' }} → {{ now | local_date: 'none', 'short' }}" } });
    // 23:15 UTC on the 28th is 00:15 CET on the 29th; 00:30 UTC on the 29th is 01:30 CET, still before 02:00.
    assert.equal(render(t, 'sms', data(user({}, { timezone: 'Europe/Berlin', locale: 'en-GB' }))).text, '29 Mar 2026, 00:15 → 01:30');
    const later = renderMessage(t, 'sms', data(user({}, { timezone: 'Europe/Berlin', locale: 'en-GB' })), Date.UTC(2026, 2, 29, 1, 30));
    assert.ok(later.ok);
    assert.match(later.content['text']!.replace(/[\u00a0\u202f]/g, ' '), /→ 03:30$/, '01:30 UTC is 03:30 CEST: the clocks moved');
    assert.equal(render(t, 'sms', data(user({ timezone: 'America/New_York' }))).text, 'Mar 28, 2026, 7:15 PM → 8:30 PM', 'the timezone trait when the profile has none');
    assert.equal(render(t, 'sms', data(user({}, { timezone: 'Not/AZone', locale: 'xx_not a locale' }))).text, 'Mar 28, 2026, 11:15 PM → 12:30 AM', 'unknown zone and locale: UTC, en-US');
  });

  test('local_date accepts ms since the epoch (as in user.computed) and refuses a bad style', () => {
    const t = compile({ sms: { text: "{{ user.computed.firstSeenAt | local_date: 'long' }}" } });
    assert.equal(render(t, 'sms', data(user({}, { firstSeenAt: Date.UTC(2025, 0, 5, 12), locale: 'fr-FR', timezone: 'Europe/Paris' }))).text, '5 janvier 2025');
    const bad = compile({ sms: { text: "{{ now | local_date: 'huge' }}" } });
    assert.match(failure(bad, 'sms', data(user())), /local_date: a style is one of full, long, medium, short, none/);
  });

  test('the date filters take "now" from the render time, in UTC, not from the clock or the machine zone', () => {
    const t = compile({ sms: { text: "{{ 'now' | date: '%Y-%m-%d %H:%M' }} {{ 'today' | date_to_xmlschema }} {{ event.timestamp | date: '%H:%M' }}" } });
    assert.equal(render(t, 'sms', data(user())).text, '2026-03-29 00:30 2026-03-29T00:30:00+00:00 23:15');
  });
});

describe('strictness', () => {
  test('a missing variable fails the render, naming the file, the part and the variable', () => {
    const t = compile({ push: { title: 'ok', body: 'Hi {{ user.traits.first_name }}' } });
    assert.equal(failure(t, 'push', data(user({ name: 'Ann' }))), 'templates/t.yaml: push.body: undefined variable: user.traits.first_name, line:1, col:7');
  });

  test('no user or no event: using them fails, not using them renders', () => {
    const t = compile({ sms: { text: '{{ user.traits.name }}' } });
    assert.match(failure(t, 'sms', data(null)), /sms\.text: undefined variable: user, line:1, col:4$/);
    const e = compile({ sms: { text: 'fixed {{ message.stepId }}' } });
    assert.equal(render(e, 'sms', { ...data(null), event: null }).text, 'fixed nudge');
  });

  test('only own properties: no prototype, no methods', () => {
    const t = compile({ sms: { text: '{{ user.traits.constructor }}{{ event.properties.toString }}' } });
    assert.match(failure(t, 'sms', data(user())), /undefined variable: user\.traits\.constructor/);
  });

  test('unknown filters, unknown variable roots and syntax errors are found when compiling, with their place in the part', () => {
    assert.deepEqual(problems({ sms: { text: 'a\n  {{ x | shout }}' } }), ['sms.text@2:3: undefined filter: shout']);
    assert.deepEqual(problems({ sms: { text: 'Hi {{ usr.name }}' } }), ['sms.text@1:7: unknown variable "usr" (known: user, event, message, now)']);
    assert.deepEqual(problems({ push: { title: 'ok', body: '{% if user.traits.vip %}open' } }), ['push.body@1:1: tag {% if user.traits.vip %} not closed']);
    assert.deepEqual(problems({ email: { subject: 's' } }), ['email: an email needs an html or a text part (or both)']);
  });

  test('variables a template assigns or loops over are its own, not unknown', () => {
    const t = compile({ sms: { text: "{% assign n = user.traits.name | upcase %}{% capture c %}x{% endcapture %}{% for i in (1..2) %}{{ i }}{% endfor %}{{ n }}{{ c }}" } });
    assert.equal(render(t, 'sms', data(user({ name: 'ann' }))).text, '12ANNx');
  });
});

describe('no file access', () => {
  for (const tag of ["{% include 'package.json' %}", "{% render 'package.json' %}", "{% layout 'package.json' %}"]) {
    test(`${tag} is refused when compiling`, () => {
      const got = problems({ sms: { text: `before ${tag} after` } });
      assert.equal(got.length, 1);
      assert.match(got[0]!, /^sms\.text@1:8: templates cannot (include|render|layout) other files$/);
    });
  }
});

describe('limits', () => {
  test('a huge loop stops at the render limit instead of hanging the process', () => {
    const t = compile({ sms: { text: '{% for i in (1..100000000) %}{{ i }}{% endfor %}' } });
    const started = performance.now();
    assert.match(failure(t, 'sms', data(user())), /limit exceeded/);
    assert.ok(performance.now() - started < 2000);
  });

  test('nested loops stop at the count of rendered tags, the same on every machine', () => {
    const t = compile({ sms: { text: '{% for i in (1..1000) %}{% for j in (1..1000) %}{{ j }}{% endfor %}{% endfor %}' } });
    assert.match(failure(t, 'sms', data(user())), /template render limit exceeded/);
  });

  test('doubling a string runs into the memory limit', () => {
    const t = compile({ sms: { text: "{% assign s = 'xxxxxxxxxx' %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}" } });
    assert.match(failure(t, 'sms', data(user())), /memory alloc limit exceeded/);
  });

  test('a part longer than the parse limit is refused when compiling', () => {
    assert.deepEqual(problems({ sms: { text: 'x'.repeat(300_000) } }), ['sms.text: parse length limit exceeded']);
  });
});

test('compiled once, rendered many times with the same result', () => {
  const t = compile({ default_currency: 'EUR', sms: { text: '{{ user.traits.name }}: {{ event.properties.value | money }}' } });
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) seen.add(render(t, 'sms', data(user({ name: `u${i % 2}` }), { value: 10 })).text!);
  assert.deepEqual([...seen].sort(), ['u0: €10.00', 'u1: €10.00']);
});
