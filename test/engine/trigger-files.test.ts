/**
 * Trigger files in a running server: an edited file is applied without a restart, a broken edit
 * leaves the triggers in force alone, and `nudge apply` pushes a folder to a server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { adminKey, startNudge, testConfig, writeKey } from '../support/nudge.js';

const root = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'nudge-trigger-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const trigger = (id: string, template: string) => `id: ${id}\nentry: { event: signed_up }\nsteps:\n  - send: in_app\n    template: ${template}\n`;

/** Polls until `check` holds: file-system events arrive when the OS delivers them. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `not within 10 s: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('an edited trigger file is applied without a restart; a broken one changes nothing', async () => {
  const triggers = path.join(dir, 'watched');
  mkdirSync(triggers);
  writeFileSync(path.join(triggers, 'welcome.yaml'), trigger('welcome', 'v1'));
  const n = await startNudge({ config: testConfig(`triggers:\n  dir: ${triggers}\n  watch: true\n`) });
  try {
    const version = async () => (await n.api('/triggers/welcome')).body.version as string | undefined;
    const first = await version();
    assert.ok(first);

    writeFileSync(path.join(triggers, 'welcome.yaml'), trigger('welcome', 'v2'));
    await eventually(async () => (await version()) !== first, 'the edit is applied');
    assert.equal((await n.api('/triggers/welcome')).body.definition.steps[0].template, 'v2');

    writeFileSync(path.join(triggers, 'second.yaml'), trigger('second', 'x'));
    await eventually(async () => (await n.api('/triggers')).body.items.length === 2, 'a new file is applied');

    writeFileSync(path.join(triggers, 'welcome.yaml'), 'id: welcome\nentry: { event: signed_up }\nsteps: []\n');
    await eventually(async () => (await n.api('/triggers')).body.issues.length > 0, 'the broken edit is reported');
    const list = (await n.api('/triggers')).body;
    assert.match(list.issues[0].path, /welcome\.yaml:3:\d+: steps/);
    assert.deepEqual(list.items.map((t: any) => t.id).sort(), ['second', 'welcome'], 'the triggers in force stay');
    assert.equal((await n.api('/triggers/welcome')).body.definition.steps[0].template, 'v2');
  } finally {
    await n.stop();
  }
});

test('nudge apply validates a folder and applies it to a running server; --prune deletes the rest', async () => {
  const served = path.join(dir, 'served');
  mkdirSync(served);
  writeFileSync(path.join(served, 'old.yaml'), trigger('old', 'x'));
  const n = await startNudge({ config: testConfig(`triggers:\n  dir: ${served}\n  watch: false\n`) });
  const local = path.join(dir, 'local');
  mkdirSync(path.join(local, 'triggers'), { recursive: true });
  writeFileSync(path.join(local, 'nudge.yaml'), `workspaces:\n  - id: test\n    writeKeys: [${writeKey}]\nadmin:\n  keys: [${adminKey}]\n`);
  const apply = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'apply', '--config', path.join(local, 'nudge.yaml'), '--url', n.url, ...args], { cwd: root }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
  try {
    writeFileSync(path.join(local, 'triggers', 'welcome.yaml'), trigger('welcome', 'hello'));
    writeFileSync(path.join(local, 'triggers', 'broken.yaml'), 'id: broken\nentry: { event: x }\nsteps:\n  - send: pigeon\n    template: t\n');
    const refused = await apply();
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /broken\.yaml:4:\d+: steps\[0\]\.send/);
    assert.deepEqual((await n.api('/triggers')).body.items.map((t: any) => t.id), ['old'], 'nothing applied');

    rmSync(path.join(local, 'triggers', 'broken.yaml'));
    const applied = await apply('--prune');
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /applied welcome/);
    assert.match(applied.stdout, /deleted old/);
    assert.deepEqual((await n.api('/triggers')).body.items.map((t: any) => t.id), ['welcome']);
  } finally {
    await n.stop();
  }
});
