/**
 * `nudge simulate` as a user runs it: the CLI in a child process on the example shop's history
 * (examples/shop/history.ndjson) and on small files with bad lines or out of order.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { BacktestReport } from '../../src/engine/backtest.js';

const root = path.resolve(import.meta.dirname, '../..');
const config = path.join(root, 'examples/shop/nudge.yaml');
const sample = path.join(root, 'examples/shop/history.ndjson');
const dir = mkdtempSync(path.join(tmpdir(), 'nudge-simulate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Output {
  history: { file: string; lines: number; skippedLines: number };
  seconds: number;
}

function nudge(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function simulate(file: string, ...args: string[]): Promise<Output & BacktestReport> {
  const run = await nudge('simulate', '--events', file, '--config', config, '--json', ...args);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as Output & BacktestReport;
}

const trigger = (report: BacktestReport, id: string) => report.triggers.find((t) => t.id === id)!;
const sent = (report: BacktestReport, id: string, step: string): number => trigger(report, id).messages.find((m) => m.stepId === step)?.count ?? 0;
const total = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

test('the sample history exercises every example trigger, and the numbers add up', async () => {
  const [report, drained] = await Promise.all([simulate(sample), simulate(sample, '--drain', 'all')]);
  const lines = readFileSync(sample, 'utf8').trim().split('\n').length;
  assert.deepEqual(report.history, { file: sample, lines, skippedLines: 0 });
  assert.equal(report.events.read, lines);
  assert.equal(report.events.reordered, false, 'the sample is sorted, so it streams');
  assert.ok(report.events.duplicates > 0, 'it holds a few repeated deliveries');
  assert.ok(report.merges > 0);
  assert.deepEqual(
    report.triggers.map((t) => t.id),
    ['abandoned-cart', 'help-click', 'high-value-scroll', 'payment-hesitation', 'product-page-inactivity', 'tenth-purchase'],
  );
  for (const t of report.triggers) {
    assert.ok(t.entered > 0 && t.messages.length > 0, `${t.id} is exercised`);
    // Every run that started has ended one way or the other, or is still waiting on a timer.
    assert.equal(t.entered, t.completed + total(t.exited) + t.pendingTimers, t.id);
  }
  const cart = trigger(report, 'abandoned-cart');
  assert.ok(cart.exited['exit_on']! > 0 && cart.exited['merged']! > 0, JSON.stringify(cart.exited));
  assert.ok(cart.goals > 0);
  assert.deepEqual(
    trigger(report, 'payment-hesitation').messages.map((m) => m.template),
    ['live-chat-invitation', 'first-order-discount'],
  );
  assert.ok(sent(report, 'product-page-inactivity', '0.on_timeout.0') < trigger(report, 'product-page-inactivity').entered, 'some acted in time');

  // Run on after the last event: every waiting cart gets what its waits lead to, and nothing else changes.
  assert.equal(drained.timersPending, 0);
  const waiting = cart.pendingByStep;
  assert.deepEqual(Object.keys(waiting).filter((step) => step !== '1' && step !== '3'), []);
  assert.equal(sent(drained, 'abandoned-cart', 'nudge-in-app'), sent(report, 'abandoned-cart', 'nudge-in-app'));
  assert.equal(sent(drained, 'abandoned-cart', 'personal-code'), sent(report, 'abandoned-cart', 'personal-code') + (waiting['1'] ?? 0));
  assert.equal(sent(drained, 'abandoned-cart', 'last-call'), sent(report, 'abandoned-cart', 'last-call') + (waiting['1'] ?? 0) + (waiting['3'] ?? 0));
  assert.equal(trigger(drained, 'abandoned-cart').completed, cart.completed + cart.pendingTimers);
  assert.ok(drained.until! > report.until!);

  // The same history again gives the same report.
  const again = await simulate(sample);
  assert.deepEqual({ ...again, seconds: 0 }, { ...report, seconds: 0 });
});

test('a history out of order is read again, sorted, and gives the same report', async () => {
  const lines = readFileSync(sample, 'utf8').trim().split('\n');
  // Every 7th line moved to the end: far out of order.
  const shuffled = [...lines.filter((_, i) => i % 7 !== 3), ...lines.filter((_, i) => i % 7 === 3)];
  const file = path.join(dir, 'shuffled.ndjson');
  writeFileSync(file, shuffled.join('\n') + '\n');
  const [sortedMessages, unsortedMessages] = [path.join(dir, 'sorted-messages.ndjson'), path.join(dir, 'unsorted-messages.ndjson')];
  const [sorted, unsorted] = await Promise.all([simulate(sample, '--messages', sortedMessages), simulate(file, '--messages', unsortedMessages)]);
  assert.equal(unsorted.events.reordered, true);
  const comparable = (r: Output & BacktestReport) => ({ ...r, seconds: 0, history: { ...r.history, file: '' }, events: { ...r.events, reordered: false } });
  assert.deepEqual(comparable(unsorted), comparable(sorted));
  // --messages lists exactly what would be sent, once each, also when the file had to be read twice.
  const messages = (f: string) => readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { key: string; triggerId: string; stepId: string });
  const listed = messages(sortedMessages);
  assert.equal(listed.length, sorted.messages);
  assert.equal(new Set(listed.map((m) => m.key)).size, listed.length);
  assert.equal(listed.filter((m) => m.triggerId === 'abandoned-cart' && m.stepId === 'nudge-in-app').length, sent(sorted, 'abandoned-cart', 'nudge-in-app'));
  assert.deepEqual(messages(unsortedMessages).map((m) => m.key).sort(), listed.map((m) => m.key).sort());
});

test('bad lines are named by file:line, skipped and counted; the rest is replayed', async () => {
  const file = path.join(dir, 'bad.ndjson');
  writeFileSync(
    file,
    [
      '{"type":"track","userId":"ann","event":"cart_updated","properties":{"item_count":1},"timestamp":"2026-03-02T09:00:00Z"}',
      '{"type":"track","userId":"ann","event":"cart_updated"',
      '{"type":"track","event":"order_completed","timestamp":"2026-03-02T09:01:00Z"}',
      '',
      '{"type":"purchase","userId":"ann","timestamp":"2026-03-02T09:02:00Z"}',
      '{"type":"track","userId":"ann","event":"page_left","timestamp":"yesterday"}',
      '{"type":"track","userId":"ann","event":"page_left"}',
      '{"type":"track","userId":"bob","event":"cart_updated","properties":{"item_count":2},"timestamp":"2026-03-02T09:05:00Z"}',
    ].join('\n') + '\n',
  );
  const run = await nudge('simulate', '--events', file, '--config', config, '--json');
  assert.equal(run.code, 0, run.stderr);
  // The JSON parser's own words differ between Node versions: only their start is checked.
  const problems = run.stderr.trim().split('\n');
  assert.ok(problems[0]?.startsWith(`${file}:2: not valid JSON (`), problems[0]);
  assert.deepEqual(problems.slice(1), [
    `${file}:3: userId: either userId or anonymousId is required`,
    `${file}:5: type: expected one of track, identify, page, screen, group, alias`,
    `${file}:6: timestamp: not a valid ISO-8601 date`,
    `${file}:7: timestamp: a history line needs the time the event happened`,
  ]);
  const report = JSON.parse(run.stdout) as Output & BacktestReport;
  assert.deepEqual(report.history, { file, lines: 8, skippedLines: 5 });
  assert.equal(report.events.read, 2);
  const cart = trigger(report, 'abandoned-cart');
  assert.equal(cart.entered, 2);
  // The push of ann (due 09:10) lies after the last event (09:05): still pending.
  assert.equal(cart.pendingTimers, 2);
  assert.deepEqual(cart.messages.map((m) => `${m.stepId} ${m.count}`), ['nudge-in-app 2']);
});

test('the table for people, and the errors', async () => {
  const run = await nudge('simulate', '-e', sample, '-c', config, '--drain', '25h');
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^Backtest of .*history\.ndjson: [\d,]+ lines, 0 skipped; replayed in [\d.]+ s/);
  assert.match(run.stdout, /^ {2}events {5}[\d,]+ replayed, \d+ duplicate\(s\) dropped$/m);
  assert.match(run.stdout, /clock stopped at 2026-03-03T/);
  assert.match(run.stdout, /^ {2}trigger +entered +completed +exited +goals +pending$/m);
  assert.match(run.stdout, /^ {2}abandoned-cart +[\d,]+ +[\d,]+ +exit_on [\d,]+, merged [\d,]+ +[\d,]+ +0$/m);
  assert.match(run.stdout, /^ {2}tenth-purchase +0 +email +tenth-purchase-gift +- +\d+$/m);

  const [missing, both, badDrain] = await Promise.all([
    nudge('simulate', '-e', path.join(dir, 'nope.ndjson'), '-c', config),
    nudge('simulate', '-e', sample, '-c', config, '--drain', '1h', '--until', '2026-03-04T00:00:00Z'),
    nudge('simulate', '-e', sample, '-c', config, '--drain', 'soon'),
  ]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read .*nope\.ndjson: ENOENT/);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /give --until or --drain, not both/);
  assert.notEqual(badDrain.code, 0);
  assert.match(badDrain.stderr, /--drain <duration>.*expected a duration/);
});
