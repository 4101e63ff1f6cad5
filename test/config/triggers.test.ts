import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { publishedSchemas } from '../../src/config/published-schemas.js';
import { loadTriggers, parseTrigger } from '../../src/config/triggers.js';

const root = path.resolve(import.meta.dirname, '../..');
const examples = path.join(root, 'examples/shop/triggers');
const scratch = mkdtempSync(path.join(tmpdir(), 'nudge-triggers-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const problems = (text: string): string[] => parseTrigger(text, 't.yaml').issues.map((i) => `${i.path}: ${i.message}`);

describe('the example project', () => {
  test('every example trigger is valid, for the loader and for the published JSON Schema', () => {
    const { triggers, issues } = loadTriggers(examples);
    assert.deepEqual(issues, []);
    assert.deepEqual(triggers.map((t) => t.definition.id).sort(), ['abandoned-cart', 'help-click', 'high-value-scroll', 'payment-hesitation', 'product-page-inactivity', 'tenth-purchase']);
    const schema = JSON.parse(readFileSync(path.join(root, 'schemas/trigger.schema.json'), 'utf8'));
    const validate = new Ajv({ strict: false }).compile(schema);
    for (const t of triggers) assert.ok(validate(parse(readFileSync(t.file, 'utf8'))), `${t.file}: ${JSON.stringify(validate.errors)}`);
    assert.equal(validate({ id: 'x', entry: { event: 'a' }, steps: [{ send: 'pigeon', template: 't' }] }), false, 'the schema refuses, too');
  });

  test('the committed JSON Schemas are the ones the source describes (npm run schemas)', () => {
    for (const [file, text] of Object.entries(publishedSchemas())) {
      assert.equal(readFileSync(path.join(root, 'schemas', file), 'utf8'), text, `schemas/${file} is stale: run npm run schemas`);
    }
  });
});

describe('problems are located at file:line:column and named by field', () => {
  const cases: [string, string, string[]][] = [
    ['an unknown channel', 'id: x\nentry: { event: a }\nsteps:\n  - send: pigeon\n    template: t\n', ['t.yaml:4:11: steps[0].send: must be one of in_app, push, email, sms, webhook']],
    ['a step of no known kind', 'id: x\nentry: { event: a }\nsteps:\n  - sned: push\n', ['t.yaml:4:5: steps[0]: a step needs one of send, wait, wait_for, branch, experiment']],
    ['a step of two kinds', 'id: x\nentry: { event: a }\nsteps:\n  - { send: push, template: t, wait: 5m }\n', ['t.yaml:4:5: steps[0]: a step is one of send, wait, wait_for, branch, experiment, not send and wait']],
    ['a duration in words', 'id: x\nentry: { event: a }\nsteps:\n  - wait: 5 minutes\n', ['t.yaml:4:11: steps[0].wait: expected a duration such as 15m, or { until: "09:00" } (local time of day)']],
    ['an unknown option, at its key', 'id: x\nentry: { event: a }\nsteps:\n  - send: push\n    template: t\n    tempalte: u\n', ['t.yaml:6:5: steps[0].tempalte: unknown option']],
    ['a missing field', 'id: x\nentry: { event: a }\nsteps:\n  - wait_for: [ { event: b } ]\n', ["t.yaml:4:5: steps[0]: must have required property 'timeout'"]],
    ['a condition that does not parse, at the spot inside it', 'id: x\nentry:\n  event: a\n  when: event.properties.x >\nsteps:\n  - wait: 1m\n', ['t.yaml:4:29: entry.when: unexpected end of expression']],
    ['an unknown method in a quoted condition', 'id: x\nentry:\n  event: a\n  when: "user.bogus(1)"\nsteps:\n  - wait: 1m\n', ["t.yaml:4:15: entry.when: unknown method 'bogus' (known: size, contains, startsWith, endsWith, lowerAscii, upperAscii, trim)"]],
    [
      'a bad condition deep in nested steps',
      'id: x\nentry: { event: a }\nsteps:\n  - wait_for: [ { event: b } ]\n    timeout: 2m\n    on_timeout:\n      - branch:\n          - when: "1 +"\n            steps: [ { wait: 1m } ]\n',
      ['t.yaml:8:23: steps[0].on_timeout[0].branch[0].when: unexpected end of expression'],
    ],
    [
      'a bad token on the second line of a block condition',
      'id: x\nentry:\n  event: a\n  when: |\n    event.properties.x > 1 &&\n      user.bogus(2)\nsteps:\n  - wait: 1m\n',
      ["t.yaml:6:12: entry.when: unknown method 'bogus' (known: size, contains, startsWith, endsWith, lowerAscii, upperAscii, trim)"],
    ],
    ['else before another arm', 'id: x\nentry: { event: a }\nsteps:\n  - branch:\n      - else: [ { wait: 1m } ]\n      - when: "true"\n        steps: [ { wait: 1m } ]\n', ['t.yaml:5:15: steps[0].branch[0].else: else must be the last arm of a branch']],
    ['a step id used twice', 'id: x\nentry: { event: a }\nsteps:\n  - { id: s, wait: 1m }\n  - { id: s, wait: 2m }\n', ['t.yaml:5:11: steps[1].id: step id "s" is used twice in this trigger']],
    ['a YAML syntax error', 'id: x\nentry: { event: a\n', ['t.yaml:3:1']],
  ];
  for (const [what, text, expected] of cases) {
    test(what, () => {
      const got = problems(text);
      if (expected.length === 1 && /^t\.yaml:\d+:\d+$/.test(expected[0]!)) assert.ok(got[0]?.startsWith(expected[0]!), got.join('\n'));
      else assert.deepEqual(got, expected);
    });
  }
});

test('two files with one trigger id: the second is refused, naming the first', () => {
  const dir = path.join(scratch, 'dupes');
  mkdirSync(dir);
  const body = 'id: same\nentry: { event: a }\nsteps:\n  - wait: 1m\n';
  writeFileSync(path.join(dir, 'a.yaml'), body);
  writeFileSync(path.join(dir, 'b.yml'), body);
  writeFileSync(path.join(dir, 'notes.txt'), 'not a trigger');
  const { triggers, issues } = loadTriggers(dir);
  assert.equal(triggers.length, 1);
  assert.deepEqual(issues.map((i) => `${path.basename(i.path.split(':')[0]!)}:${i.path.split(':').slice(1).join(':')}: ${i.message}`), [
    `b.yml:1:5: id: trigger id "same" is also used by ${path.join(dir, 'a.yaml')}`,
  ]);
});

test('nudge validate prints each problem and exits 1; a clean project exits 0', () => {
  const project = path.join(scratch, 'project');
  cpSync(path.join(root, 'examples/shop'), project, { recursive: true });
  const run = () => spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), 'validate', '--config', path.join(project, 'nudge.yaml')], { cwd: root, encoding: 'utf8' });
  const clean = run();
  assert.equal(clean.status, 0, clean.stderr);
  assert.match(clean.stdout, /6 trigger\(s\) valid/);
  writeFileSync(path.join(project, 'triggers/broken.yaml'), 'id: broken\nentry: { event: a }\nsteps:\n  - send: pigeon\n    template: t\n');
  const broken = run();
  assert.equal(broken.status, 1);
  assert.match(broken.stderr, /broken\.yaml:4:11: steps\[0\]\.send: must be one of/);
});
