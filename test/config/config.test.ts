import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/core/errors.js';

const valid = `workspaces:
  - id: shop
    writeKeys: [a-long-write-key]
admin:
  keys: [a-long-admin-key]
`;

function issuesOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 'nudge.yaml', env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('expected a ConfigError');
}

test('defaults fill every option that is not written', () => {
  const c = parseConfig(valid, 'nudge.yaml');
  assert.equal(c.storage.driver, 'sqlite');
  assert.equal(c.storage.synchronous, 'full');
  assert.equal(c.ingest.maxEventBytes, 32 * 1024);
  assert.equal(c.ingest.dedupWindowMs, 24 * 3600_000);
  assert.equal(c.profiles.sessionTimeoutMs, 30 * 60_000);
  assert.equal(c.workspaces[0]!.name, 'shop');
});

test('durations are parsed', () => {
  const c = parseConfig(`${valid}ingest:\n  maxFutureSkew: 90s\nprofiles:\n  sessionTimeout: 1.5h\n`, 'nudge.yaml');
  assert.equal(c.ingest.maxFutureMs, 90_000);
  assert.equal(c.profiles.sessionTimeoutMs, 5_400_000);
});

test('errors name file, line, column and field', () => {
  const issues = issuesOf(`${valid}ingest:\n  dedupWindow: forever\n  maxEventBytez: 10\n`);
  assert.ok(issues.some((i) => /^nudge\.yaml:7:16: ingest\.dedupWindow: must match pattern/.test(i)), issues.join('\n'));
  assert.ok(issues.some((i) => /^nudge\.yaml:8:3: ingest\.maxEventBytez: unknown option/.test(i)), issues.join('\n'));
});

test('a wrong type deep in a list is located', () => {
  const issues = issuesOf(`workspaces:\n  - id: shop\n    writeKeys: [short]\nadmin:\n  keys: [a-long-admin-key]\n`);
  assert.ok(issues.some((i) => i.startsWith('nudge.yaml:3:17: workspaces[0].writeKeys[0]:')), issues.join('\n'));
});

test('duplicate workspaces and write keys are refused', () => {
  const issues = issuesOf(`workspaces:
  - id: shop
    writeKeys: [same-write-key]
  - id: shop
    writeKeys: [same-write-key]
admin:
  keys: [a-long-admin-key]
`);
  assert.ok(issues.some((i) => /workspaces\[1\]\.id: duplicate workspace id/.test(i)));
  assert.ok(issues.some((i) => /workspaces\[1\]\.writeKeys\[0\]: write key used twice/.test(i)));
});

test('${VARIABLES} come from the environment, and a missing one is named', () => {
  const text = valid.replace('a-long-admin-key', '"${NUDGE_ADMIN_KEY}"');
  assert.deepEqual(parseConfig(text, 'nudge.yaml', { NUDGE_ADMIN_KEY: 'from-the-environment' }).adminKeys, ['from-the-environment']);
  assert.ok(issuesOf(text).some((i) => /admin\.keys\[0\]: environment variable NUDGE_ADMIN_KEY is not set/.test(i)));
});

test('YAML syntax errors carry a position', () => {
  const issues = issuesOf('workspaces: [\n');
  assert.match(issues[0]!, /^nudge\.yaml:\d+:\d+/);
});

test('channels, triggers and delivery: defaults, providers, and one provider per channel', () => {
  const c = parseConfig(`${valid}channels:\n  push:\n    webhook:\n      url: http://127.0.0.1:9/push\n      timeout: 2s\n  in_app: { log: true }\ndelivery:\n  maxAttempts: 3\n`, '/project/nudge.yaml');
  assert.deepEqual(c.channels, { push: { kind: 'webhook', url: 'http://127.0.0.1:9/push', headers: {}, timeoutMs: 2000, allowPrivateNetworks: false }, in_app: { kind: 'log' } });
  assert.deepEqual(c.triggers, { dir: '/project/triggers', watch: true });
  assert.deepEqual(c.delivery, { maxAttempts: 3, backoffMs: 1000, policy: { caps: [], quietHours: null, defaultConsent: 'granted' } });
  const policy = parseConfig(
    `${valid}delivery:\n  caps:\n    - { max: 2, per: 1h }\n    - { max: 1, per: 1d, channel: push, trigger: cart }\n  quietHours: { from: "21:00", to: "08:00", channels: [push] }\n  consent: denied\n`,
    'nudge.yaml',
  ).delivery.policy;
  assert.deepEqual(policy, {
    caps: [{ max: 2, windowMs: 3_600_000 }, { max: 1, windowMs: 86_400_000, channel: 'push', triggerId: 'cart' }],
    quietHours: { from: '21:00', to: '08:00', action: 'defer', channels: ['push'] },
    defaultConsent: 'denied',
  });
  const badQuiet = issuesOf(`${valid}delivery:\n  quietHours: { from: "9pm", to: "08:00" }\n`);
  assert.ok(badQuiet.some((i) => /delivery\.quietHours\.from: must match pattern/.test(i)), badQuiet.join('\n'));

  const twoOrNone = issuesOf(`${valid}channels:\n  push:\n    log: true\n    webhook: { url: http://127.0.0.1:9/ }\n  sms: {}\n`);
  assert.ok(twoOrNone.some((i) => /^nudge\.yaml:8:5: channels\.push: give exactly one provider/.test(i)), twoOrNone.join('\n'));
  assert.ok(twoOrNone.some((i) => /^nudge\.yaml:10:8: channels\.sms: give exactly one provider/.test(i)), twoOrNone.join('\n'));
  const badUrl = issuesOf(`${valid}channels:\n  email:\n    webhook: { url: ftp://nope }\n`);
  assert.ok(badUrl.some((i) => /channels\.email\.webhook\.url: must match pattern/.test(i)), badUrl.join('\n'));
});
