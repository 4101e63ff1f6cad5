/**
 * Dispatch throughput end to end: messages already in the outbox go out through the dispatcher to a
 * receiver, for the webhook channel and for the email (SMTP) channel separately; sends/s and the
 * delay from each message's due time to its acceptance by the receiver. Side by side in one run,
 * one after the other, with the same work:
 *
 * - Nudge: a real server from `createNudge` in this process (SQLite in a temporary directory,
 *   `synchronous: full`, real clock), the channel under test the only one configured. One trigger
 *   and one template with email, in_app and webhook parts with two links each: the dispatcher checks
 *   the delivery policy against the user's profile, renders the template, sends its links through
 *   click tracking (with UTM parameters), adds an open pixel to the HTML and, for email, the
 *   List-Unsubscribe headers; afterwards it records each outcome, which also goes onto the user's
 *   timeline and the trigger's counters. First N users' profiles (email, first name, plan) go in
 *   over `POST /v1/batch`; then N messages, one per user, are committed to the outbox through
 *   `engineStore.commit` as the trigger engine commits its sends, due evenly over a short window
 *   that begins after they are all committed. The dispatcher learns of them as it would of a
 *   message deferred or retried: it is kicked once and sleeps until the first due time.
 * - Floor: the same N messages (one sample of Nudge's rendered content, the same headers) sent
 *   straight through the same transport at the same concurrency, paced by the same due times
 *   (support/dispatch-floor.ts): `node:http` keep-alive for webhooks, a nodemailer pool of Nudge's
 *   size for SMTP. What the transport alone costs on this machine.
 *
 * The receiver (support/dispatch-receiver.ts: `node:http` and `smtp-server`) runs in a child
 * process, so on a 2-core machine the system under test keeps a core for itself. Figures: sends/s
 * (N ÷ time from the first due time to the last acceptance), delay from due to accepted (p50, p99,
 * max), lost and doubled messages (distinct idempotency keys against acceptances), and for Nudge
 * the CPU per message, the storage calls made during the window and the time they held the event
 * loop, which say where the time goes.
 *
 * Settings (environment): BENCH_DISPATCH_MESSAGES (webhook messages, default 20,000),
 * BENCH_DISPATCH_SMTP_MESSAGES (email messages, 5,000), BENCH_DISPATCH_SPREAD_MS (the due times
 * are spread evenly over this, default 500), BENCH_DISPATCH_LEAD_MS (from the start of the outbox
 * preload to the first due time, 3,000), BENCH_DISPATCH_CHANNELS (`webhook,smtp`, or one of them),
 * BENCH_DISPATCH_SYNCHRONOUS (`full`, default, or `normal`: Nudge's SQLite durability);
 * BENCH_CPU_PROF=1 also records a CPU profile of this process during each of Nudge's windows;
 * BENCH_KEEP=1 keeps the temporary directory (databases, templates, profiles).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../src/config/config.js';
import type { EventSummary, OutboundMessage } from '../src/core/triggers/state.js';
import { createNudge, type Nudge } from '../src/main.js';
import type { RenderedContent } from '../src/ports/channel.js';
import { envInt, formatTable, num, type Benchmark, type BenchmarkReport, type SummaryRow } from './support/benchmark.js';
import { CallStats } from './support/call-stats.js';
import { awaitArrivals, indent, sleepUntil, startWindowMeters } from './support/window.js';
import { formatProfileSummary, startProfiler, summariseCpuProfile } from './support/cpu-profile.js';
import { smtpFloor, smtpPool, webhookFloor, type FloorMessage, type FloorResult } from './support/dispatch-floor.js';
import { DispatchReceiver, type SinkReport } from './support/dispatch-receiver.js';
import { repoRoot } from './support/nudge-server.js';

/** Messages in flight at once: the dispatcher's default, and the floor's. */
const concurrency = 256;
const eventsPerRequest = 500;
const ingestSenders = 4;
const sendsPerCommit = 1000;
/** The preload must end at least this long before the first due time. */
const minMarginMs = 200;
/** The floor has nothing to preload: its first due time is this far after it starts. */
const floorLeadMs = 300;
/** After the window, missing messages are waited for while they keep coming; after this long without one, or `drainCapMs` past the window, the rest count as lost. */
const stallMs = 10_000;
const drainCapMs = 120_000;
/** After the last expected acceptance, how long to listen for repeats. */
const repeatsMs = 1000;
/** Above this much CPU used by other processes during a window, its figures are flagged as disturbed. */
const busyMachineCores = 0.2;
const workspace = { id: 'bench', writeKey: 'bench-write-key', adminKey: 'bench-admin-key' };
const triggerId = 'dispatch-bench';
const templateId = 'dispatch-bench';
const stepId = 'remind';
const firstNames = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken'];

type Transport = 'webhook' | 'smtp';

interface Settings {
  /** SQLite durability of Nudge: `full` fsyncs every transaction, `normal` survives a crashed process but not a power cut. */
  synchronous: 'full' | 'normal';
  messages: Record<Transport, number>;
  spreadMs: number;
  leadMs: number;
  transports: Transport[];
  cpuProfile: boolean;
}

/** Per transport: the channel its messages go on and the receiver's sinks (path or sender). */
const channelOf = { webhook: 'webhook', smtp: 'email' } as const;
const sinkOf = (t: Transport, system: 'nudge' | 'floor') => `${t}-${system}`;
const senderOf = (system: 'nudge' | 'floor') => `${sinkOf('smtp', system)}@bench.example`;
const emailOf = (i: number) => `u${i}@bench.example`;

/** Message i's due time: evenly over [firstDue, firstDue + spread). */
const dueOf = (s: Settings, n: number, firstDue: number, i: number): number => firstDue + Math.floor((i * s.spreadMs) / n);

/** The run's entry event, as the trigger engine keeps it: what the template reads under `event`. */
const entryOf = (tag: string, i: number, timestamp: number): EventSummary => ({
  messageId: `${tag}-cart-${i}`,
  type: 'track',
  name: 'cart_updated',
  properties: { item_count: 1 + (i % 5), value: 19.9 + (i % 100), product_id: `p${i % 500}`, product_name: `Product ${i % 500}` },
  timestamp,
});

interface Delays {
  p50: number;
  p99: number;
  max: number;
  min: number;
}

/** How long callers waited for each `wrapWait`ed call: name, calls, per message, p50, p99, max ms. */
function waitRows(calls: CallStats, messages: number): string[][] {
  return [...calls.waits].map(([name, values]) => {
    const d = delaysOf(Float64Array.from(values));
    return [name, num(values.length), num(values.length / messages, 2), num(d.p50, 2), num(d.p99, 1), num(d.max, 1)];
  });
}

function delaysOf(values: Float64Array): Delays {
  const sorted = values.slice().sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
  return { p50: at(50), p99: at(99), max: sorted[sorted.length - 1] ?? Number.NaN, min: sorted[0] ?? Number.NaN };
}

interface PassResult {
  system: 'Nudge' | 'floor';
  transport: Transport;
  messages: number;
  sink: SinkReport;
  delays: Delays;
  sendsPerS: number;
  /** First due time → last acceptance. */
  windowMs: number;
  /** Acceptances per tenth of the window. */
  tenths: number[];
  mainCpuMs: number;
  /** Of which in the kernel (system time: sockets, fsync). */
  mainSystemMs: number;
  cores: { main: number; receiver: number; other: number };
  loopDelay: { p99: number; max: number };
  calls: CallStats | null;
  profileReport: string | null;
  failures: string[];
  notes: string[];
}

export const dispatchBenchmark: Benchmark = {
  name: 'dispatch',
  title: 'dispatch throughput end to end: outbox → webhook and SMTP receivers, Nudge vs the bare transport',
  async run(): Promise<BenchmarkReport> {
    const transports = (process.env['BENCH_DISPATCH_CHANNELS'] ?? 'webhook,smtp').split(',').map((t) => t.trim());
    const unknown = transports.filter((t) => t !== 'webhook' && t !== 'smtp');
    if (unknown.length > 0 || transports.length === 0) throw new Error(`BENCH_DISPATCH_CHANNELS: expected webhook, smtp or both, got "${transports.join(',')}"`);
    const settings: Settings = {
      synchronous: process.env['BENCH_DISPATCH_SYNCHRONOUS'] === 'normal' ? 'normal' : 'full',
      messages: { webhook: envInt('BENCH_DISPATCH_MESSAGES', 20_000), smtp: envInt('BENCH_DISPATCH_SMTP_MESSAGES', 5000) },
      spreadMs: envInt('BENCH_DISPATCH_SPREAD_MS', 500),
      leadMs: envInt('BENCH_DISPATCH_LEAD_MS', 3000),
      transports: transports as Transport[],
      cpuProfile: process.env['BENCH_CPU_PROF'] === '1',
    };
    const workDir = mkdtempSync(path.join(tmpdir(), 'nudge-bench-dispatch-'));
    const receiver = await DispatchReceiver.start();
    try {
      console.log(
        `  messages: ${settings.transports.map((t) => `${num(settings.messages[t])} ${t}`).join(', ')}; due evenly over ${num(settings.spreadMs)} ms; ${concurrency} in flight at most (Nudge's default, and the floor's)
  where things run:
    this process (pid ${process.pid}): Nudge (HTTP, ingest pipeline, trigger engine, dispatcher, SQLite), then the floor's sender
    receiver: child process pid ${receiver.pid} (node:http and smtp-server), records when each message was accepted
  durability: Nudge commits with SQLite synchronous=${settings.synchronous}${settings.synchronous === 'full' ? ' (an fsync per transaction)' : ' (fsync at WAL checkpoints only)'}`,
      );
      const passes: PassResult[] = [];
      for (const transport of settings.transports) {
        const { result, sample } = await runNudge(settings, transport, receiver, path.join(workDir, transport));
        printPass(result);
        passes.push(result);
        const floor = await runFloor(settings, transport, receiver, sample);
        printPass(floor);
        passes.push(floor);
      }
      return report(passes);
    } finally {
      await receiver.close();
      if (process.env['BENCH_KEEP'] === '1') console.log(`  kept ${workDir}`);
      else rmSync(workDir, { recursive: true, force: true });
    }
  },
};

/** What the floor sends in every message: one of Nudge's, as its channel would get it. */
interface Sample {
  content: RenderedContent;
  unsubscribeUrl: string | undefined;
  version: string;
}

const templateYaml = `id: ${templateId}
default_currency: EUR
email:
  subject: "{{ user.traits.first_name | default: 'Hi' }}, your cart is waiting"
  html: |
    <!doctype html>
    <html><body style="font-family: sans-serif">
    <p>Hi {{ user.traits.first_name | default: 'there' }},</p>
    <p>You left {{ event.properties.item_count }} items worth <strong>{{ event.properties.value | money }}</strong> in your cart.</p>
    <p><a href="https://shop.example.com/cart">Complete my order</a></p>
    <p><a href="https://shop.example.com/products/{{ event.properties.product_id }}">See {{ event.properties.product_name }} again</a></p>
    <p style="color: #888; font-size: 12px">You get this email as a customer of the shop ({{ user.traits.plan }} plan).</p>
    </body></html>
  text: |
    Hi {{ user.traits.first_name | default: 'there' }},

    You left {{ event.properties.item_count }} items worth {{ event.properties.value | money }} in your cart.
    Complete your order: https://shop.example.com/cart
    See {{ event.properties.product_name }} again: https://shop.example.com/products/{{ event.properties.product_id }}
in_app:
  title: "{{ user.traits.first_name | default: 'Hi' }}, your cart is waiting"
  body: "{{ event.properties.item_count }} items, {{ event.properties.value | money }}: https://shop.example.com/cart"
  cta_label: Complete my order
  cta_url: "https://shop.example.com/products/{{ event.properties.product_id }}"
webhook:
  title: "{{ user.traits.first_name | default: 'Hi' }}, your cart is waiting"
  body: "{{ event.properties.item_count }} items, {{ event.properties.value | money }}: https://shop.example.com/cart"
  cta_url: "https://shop.example.com/products/{{ event.properties.product_id }}"
`;

function channelYaml(transport: Transport, receiver: DispatchReceiver): string {
  return transport === 'webhook'
    ? `  webhook:
    webhook:
      url: ${receiver.url}/${sinkOf('webhook', 'nudge')}
      allowPrivateNetworks: true`
    : `  email:
    smtp:
      host: 127.0.0.1
      port: ${receiver.smtpPort}
      from: "Nudge Bench <${senderOf('nudge')}>"`;
}

async function startNudge(s: Settings, transport: Transport, receiver: DispatchReceiver, workDir: string): Promise<Nudge> {
  const triggersDir = path.join(workDir, 'triggers');
  const templatesDir = path.join(workDir, 'templates');
  mkdirSync(triggersDir, { recursive: true });
  mkdirSync(templatesDir, { recursive: true });
  writeFileSync(path.join(templatesDir, `${templateId}.yaml`), templateYaml);
  writeFileSync(
    path.join(triggersDir, `${triggerId}.yaml`),
    `id: ${triggerId}
entry:
  event: cart_updated
steps:
  - id: ${stepId}
    send: ${channelOf[transport]}
    template: ${templateId}
`,
  );
  const config = parseConfig(
    `workspaces:
  - id: ${workspace.id}
    writeKeys: [${workspace.writeKey}]
admin:
  keys: [${workspace.adminKey}]
storage:
  driver: sqlite
  file: nudge.db
  synchronous: ${s.synchronous}
triggers:
  dir: ${triggersDir}
  watch: false
templates:
  dir: ${templatesDir}
  watch: false
channels:
${channelYaml(transport, receiver)}
`,
    path.join(workDir, 'nudge.yaml'),
  );
  return createNudge({ config, dataDir: path.join(workDir, 'data'), logger: false });
}

/** N users' profiles over `POST /v1/batch` (identify, 500 a request, a few in flight); returns their profile ids. */
async function ingestUsers(nudge: Nudge, url: string, n: number, tag: string): Promise<string[]> {
  const authorization = `Basic ${Buffer.from(`${workspace.writeKey}:`).toString('base64')}`;
  const requests = Math.ceil(n / eventsPerRequest);
  const timestamp = new Date(Date.now() - 86_400_000).toISOString();
  let next = 0;
  const sender = async () => {
    for (let r = next++; r < requests; r = next++) {
      const batch = [];
      for (let i = r * eventsPerRequest; i < Math.min(n, (r + 1) * eventsPerRequest); i++) {
        const traits = { email: emailOf(i), first_name: firstNames[i % firstNames.length], plan: i % 5 === 0 ? 'pro' : 'free' };
        batch.push({ type: 'identify', userId: `u${i}`, messageId: `${tag}-identify-${i}`, timestamp, traits });
      }
      const res = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`Nudge: POST /v1/batch answered ${res.status}: ${text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: ingestSenders }, sender));
  const ids: string[] = [];
  for (let i = 0; i < n; i += 1000) {
    const chunk = await Promise.all(Array.from({ length: Math.min(1000, n - i) }, (_, j) => nudge.pipeline.profile(workspace.id, `u${i + j}`)));
    chunk.forEach((p, j) => {
      if (!p) throw new Error(`Nudge: no profile for user u${i + j} after ingestion`);
      ids.push(p.profileId);
    });
  }
  // Profiles are written behind the log: write them now, so that the window does not pay for the set-up.
  await nudge.pipeline.checkpoint();
  return ids;
}

async function runNudge(s: Settings, transport: Transport, receiver: DispatchReceiver, workDir: string): Promise<{ result: PassResult; sample: Sample }> {
  const n = s.messages[transport];
  const channel = channelOf[transport];
  const sink = sinkOf(transport, 'nudge');
  const nudge = await startNudge(s, transport, receiver, workDir);
  const calls = new CallStats();
  const counts = instrumentNudge(nudge, calls);
  const failures: string[] = [];
  const notes: string[] = [];
  try {
    const url = await nudge.listen(0);
    const tag = `d${Date.now().toString(36)}`;
    const ingestStarted = Date.now();
    const profileIds = await ingestUsers(nudge, url, n, tag);
    await nudge.engine.idle();
    const ingestMs = Date.now() - ingestStarted;
    const program = nudge.registry.catalog.current(triggerId);
    if (!program) throw new Error(`Nudge: trigger ${triggerId} is not in force: ${nudge.registry.issues().map((i) => i.message).join('; ')}`);

    const preloadStarted = Date.now();
    const firstDue = preloadStarted + s.leadMs;
    const messages = profileIds.map((profileId, i): OutboundMessage => {
      const runId = `${triggerId}:${tag}-${i}`;
      const at = dueOf(s, n, firstDue, i);
      return {
        key: `${workspace.id}/${profileId}/${runId}/${stepId}`,
        profileId,
        triggerId,
        version: program.version,
        runId,
        stepId,
        channel,
        fallback: [],
        template: templateId,
        topic: 'marketing',
        priority: program.priority,
        variants: {},
        entry: entryOf(tag, i, at - 3_600_000),
        at,
      };
    });
    const dueByKey = new Map(messages.map((m) => [m.key, m.at]));
    let added = 0;
    for (let i = 0; i < n; i += sendsPerCommit) {
      const sends = messages.slice(i, i + sendsPerCommit).map((message) => ({ workspaceId: workspace.id, message }));
      added += (await nudge.engineStore.commit({ states: [], sends, counters: [], schedule: [], cancel: [], completeTimers: [] })).addedSends.length;
    }
    const preloadMs = Date.now() - preloadStarted;
    if (added !== n) failures.push(`Nudge ${transport}: the outbox took ${num(added)} of ${num(n)} messages`);
    const marginMs = firstDue - Date.now();
    if (marginMs < minMarginMs) {
      const message = `Nudge ${transport}: the outbox preload ended ${marginMs < 0 ? `${num(-marginMs)} ms after the first due time` : `only ${num(marginMs)} ms before it`}: the delays below are not valid; raise BENCH_DISPATCH_LEAD_MS (now ${s.leadMs})`;
      console.log(`\n  !!! ${message}\n`);
      failures.push(message);
    }
    const sample = await sampleOf(nudge, messages[0]!, channel, program.version);
    // The commits above went around the dispatcher: told once, it sleeps until the first due time.
    nudge.dispatcher.kick();

    await sleepUntil(firstDue - 100);
    const profiler = s.cpuProfile ? await startProfiler() : null;
    await sleepUntil(firstDue);
    calls.recording = true;
    counts.reset();
    const stopMeters = startWindowMeters(receiver);
    await awaitArrivals(async () => (await receiver.status(sink)).distinct, { expected: n, lastDue: dueOf(s, n, firstDue, n - 1), stallMs, drainCapMs, pollMs: 50 });
    const meters = stopMeters();
    calls.recording = false;
    const kicks = counts.kicks;
    let profileReport: string | null = null;
    if (profiler) {
      const file = path.join(workDir, 'window.cpuprofile');
      await profiler.stop(file);
      const summary = summariseCpuProfile(file, repoRoot);
      const sections = formatProfileSummary(summary).split('\n').slice(1).join('\n');
      profileReport = `CPU profile of this process during Nudge's ${transport} window: ${num(summary.busyMs / 1000, 1)} s busy of ${num(summary.totalMs / 1000, 1)} s sampled (the profiler slows it); shares of busy time\n${sections}`;
    }
    const arrivals = await arrivalsAfterRepeats(receiver, sink);

    await nudge.dispatcher.idle();
    await nudge.engine.idle();
    failures.push(...(await outboxFailures(nudge, transport)));
    const figures = arrivalFigures(arrivals, dueByKey, firstDue);
    failures.push(...arrivalFailures(`Nudge ${transport}`, n, arrivals, figures));
    notes.push(
      `preparation: ${num(n)} profiles ingested in ${num(ingestMs / 1000, 1)} s; ${num(n)} messages committed to the outbox in ${num(preloadMs)} ms (${num(Math.ceil(n / sendsPerCommit))} commits), ${num(Math.max(0, marginMs))} ms before the first due time`,
      `dispatcher kicks during the window: ${num(kicks)} (${num(kicks / n, 2)} per message)`,
    );
    return {
      result: {
        system: 'Nudge',
        transport,
        messages: n,
        sink: arrivals,
        ...figures,
        ...meters,
        calls,
        profileReport,
        failures,
        notes,
      },
      sample,
    };
  } finally {
    await nudge.close();
  }
}

/**
 * What the dispatcher makes of a message before the channel sends it (rendered, links decorated)
 * and the unsubscribe URL the email channel adds: the floor sends this content with every message.
 */
async function sampleOf(nudge: Nudge, message: OutboundMessage, channel: string, version: string): Promise<Sample> {
  const user = (await nudge.pipeline.profilesByIds(workspace.id, [message.profileId])).get(message.profileId) ?? null;
  const rendered = nudge.templates.render(message, channel, user, Date.now());
  if (!rendered.ok) throw new Error(`Nudge: the template does not render for ${channel}: ${rendered.error}`);
  return {
    content: nudge.links.decorate(workspace.id, message, channel, rendered.content),
    unsubscribeUrl: channel === 'email' ? nudge.links.unsubscribeUrl(workspace.id, message, channel) : undefined,
    version,
  };
}

/**
 * Wraps the storage calls of a running Nudge with timers, and counts the dispatcher's kicks (each
 * a claim attempt, and a `nextOutboxAt` when it goes back to sleep).
 */
function instrumentNudge(nudge: Nudge, calls: CallStats): { kicks: number; reset(): void } {
  const { engineStore, store, pipeline, dispatcher } = nudge;
  calls.wrap(engineStore, 'claimOutbox', 'outbox claim');
  calls.wrap(engineStore, 'settleOutbox', 'outbox settle (outcomes)');
  calls.wrap(engineStore, 'nextOutboxAt', 'outbox nextOutboxAt');
  calls.wrap(engineStore, 'loadStates', 'engine loadStates (outcomes)');
  calls.wrap(engineStore, 'commit', 'engine commit (outcome counters)');
  calls.wrap(store, 'commit', 'ingest store.commit (message events, checkpoints)');
  calls.wrap(store.profiles, 'getProfiles', 'profile reads from SQLite');
  calls.wrapWait(pipeline, 'profilesByIds', 'profile lookups through the ingest pipeline (dispatcher per claim, email address per message, message events per batch)');
  const counts = {
    kicks: 0,
    reset() {
      counts.kicks = 0;
    },
  };
  const kick = dispatcher.kick.bind(dispatcher);
  dispatcher.kick = () => {
    if (calls.recording) counts.kicks++;
    kick();
  };
  return counts;
}

/** Outbox entries that did not end delivered: a template or policy problem, or a channel failure. */
async function outboxFailures(nudge: Nudge, transport: Transport): Promise<string[]> {
  const failures: string[] = [];
  for (const status of ['pending', 'failed', 'suppressed'] as const) {
    const page = await nudge.engineStore.listOutbox(workspace.id, { status, limit: 3 });
    if (page.items.length > 0) {
      failures.push(`Nudge ${transport}: outbox entries still ${status} after the run, e.g. ${page.items.map((e) => `${e.message.key}: ${e.lastError ?? 'no error'}`).join('; ')}`);
    }
  }
  return failures;
}

async function runFloor(s: Settings, transport: Transport, receiver: DispatchReceiver, sample: Sample): Promise<PassResult> {
  const n = s.messages[transport];
  const channel = channelOf[transport];
  const sink = sinkOf(transport, 'floor');
  const tag = `f${Date.now().toString(36)}`;
  const firstDue = Date.now() + floorLeadMs;
  const messages = Array.from({ length: n }, (_, i) => {
    const profileId = `u:u${i}`;
    const runId = `${triggerId}:${tag}-${i}`;
    const dueAt = dueOf(s, n, firstDue, i);
    return { i, key: `${workspace.id}/${profileId}/${runId}/${stepId}`, dueAt, profileId, runId, entry: entryOf(tag, i, dueAt - 3_600_000) };
  }) satisfies FloorMessage[];
  const dueByKey = new Map(messages.map((m) => [m.key, m.dueAt]));
  const { content } = sample;
  await sleepUntil(firstDue);
  const stopMeters = startWindowMeters(receiver);
  let sending: Promise<FloorResult>;
  if (transport === 'webhook') {
    // The body the webhook channel writes (src/channels/webhook.ts), with the sample's content.
    sending = webhookFloor(`${receiver.url}/${sink}`, messages, concurrency, (m) =>
      JSON.stringify({
        id: m.key,
        workspaceId: workspace.id,
        channel,
        template: templateId,
        content,
        topic: 'marketing',
        profileId: m.profileId,
        trigger: { id: triggerId, version: sample.version, runId: m.runId, stepId },
        variants: {},
        entry: m.entry,
        at: m.dueAt,
        attempt: 1,
      }),
    );
  } else {
    // The mail the email channel builds (src/channels/email-smtp.ts), with the sample's content.
    sending = smtpFloor('127.0.0.1', receiver.smtpPort, messages, concurrency, (m) => ({
      from: senderOf('floor'),
      to: emailOf(m.i),
      subject: content['subject'],
      html: content['html'],
      text: content['text'],
      messageId: `<nudge.${m.i.toString(16).padStart(32, '0')}@bench.example>`,
      headers: { 'X-Nudge-Message': m.key, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
      ...(sample.unsubscribeUrl === undefined ? {} : { list: { unsubscribe: sample.unsubscribeUrl } }),
    }));
  }
  await awaitArrivals(async () => (await receiver.status(sink)).distinct, { expected: n, lastDue: dueOf(s, n, firstDue, n - 1), stallMs, drainCapMs, pollMs: 50 });
  const meters = stopMeters();
  const sent = await sending;
  const arrivals = await arrivalsAfterRepeats(receiver, sink);
  const figures = arrivalFigures(arrivals, dueByKey, firstDue);
  const failures = arrivalFailures(`floor ${transport}`, n, arrivals, figures);
  if (sent.errors > 0) failures.push(`floor ${transport}: ${num(sent.errors)} sends failed, the first: ${sent.firstError}`);
  const how = transport === 'webhook' ? `node:http keep-alive, ${concurrency} sockets` : `nodemailer pool of ${smtpPool.maxConnections} connections`;
  return {
    system: 'floor',
    transport,
    messages: n,
    sink: arrivals,
    ...figures,
    ...meters,
    calls: null,
    profileReport: null,
    failures,
    notes: [`${how}, ${concurrency} messages in flight at most, each sent at or after its due time`],
  };
}

/** What the receiver recorded, once it has had time to see repeats. */
async function arrivalsAfterRepeats(receiver: DispatchReceiver, sink: string): Promise<SinkReport> {
  await sleep(repeatsMs);
  return receiver.report(sink);
}

interface ArrivalFigures {
  delays: Delays;
  sendsPerS: number;
  windowMs: number;
  tenths: number[];
  /** Acceptances whose key is not one of this pass's messages. */
  unknownKeys: number;
}

function arrivalFigures(r: SinkReport, dueByKey: ReadonlyMap<string, number>, firstDue: number): ArrivalFigures {
  const delays = new Float64Array(r.received);
  let unknownKeys = 0;
  let known = 0;
  for (let i = 0; i < r.received; i++) {
    const due = dueByKey.get(r.keys[i]!);
    if (due === undefined) unknownKeys++;
    else delays[known++] = r.acceptedAt[i]! - due;
  }
  const windowMs = Math.max(1, r.lastArrivalAt - firstDue);
  const tenths = Array.from({ length: 10 }, () => 0);
  for (let i = 0; i < r.received; i++) tenths[Math.min(9, Math.max(0, Math.floor(((r.acceptedAt[i]! - firstDue) / windowMs) * 10)))]!++;
  return { delays: delaysOf(delays.subarray(0, known)), sendsPerS: (r.distinct / windowMs) * 1000, windowMs, tenths, unknownKeys };
}

function arrivalFailures(who: string, n: number, r: SinkReport, f: ArrivalFigures): string[] {
  const failures: string[] = [];
  if (r.distinct < n) failures.push(`${who}: ${num(r.distinct)} distinct messages accepted, expected ${num(n)} (${num(n - r.distinct)} lost: none came for ${stallMs / 1000} s, or the drain passed ${drainCapMs / 1000} s)`);
  if (r.received !== r.distinct) failures.push(`${who}: ${num(r.received - r.distinct)} messages accepted twice (same idempotency key)`);
  if (r.malformed > 0) failures.push(`${who}: ${num(r.malformed)} messages without an idempotency key`);
  if (f.unknownKeys > 0) failures.push(`${who}: ${num(f.unknownKeys)} messages with a key this pass did not send`);
  if (f.delays.min < 0) failures.push(`${who}: a message was accepted ${num(-f.delays.min)} ms before it was due`);
  return failures;
}

const ms = (n: number) => (Number.isNaN(n) ? '–' : `${num(n)} ms`);

function printPass(r: PassResult): void {
  const who = `${r.system} ${r.transport}`;
  console.log(`
  ${who}: ${num(r.sendsPerS)} sends/s; due → accepted p50 ${ms(r.delays.p50)}, p99 ${ms(r.delays.p99)}, max ${ms(r.delays.max)}
    ${r.notes.join('\n    ')}
    accepted: ${num(r.sink.received)} messages, ${num(r.sink.distinct)} distinct idempotency keys (expected ${num(r.messages)}), ${num(r.sink.bytes / Math.max(1, r.sink.received))} bytes each on average; last ${num(r.windowMs / 1000, 2)} s after the first due time
    accepted per tenth of that window (${num(r.windowMs / 10)} ms each): ${r.tenths.map((c) => num(c)).join(' / ')}
    CPU during the window (cores): this process ${num(r.cores.main, 2)}, receiver ${num(r.cores.receiver, 2)}, everything else ${num(r.cores.other, 2)}
    this process's CPU per message: ${num((r.mainCpuMs * 1000) / Math.max(1, r.sink.received))} µs, of which ${num((r.mainSystemMs * 1000) / Math.max(1, r.sink.received))} µs in the kernel; event-loop delay p99 ${num(r.loopDelay.p99, 1)} ms, max ${num(r.loopDelay.max, 1)} ms`);
  if (r.cores.other > busyMachineCores) {
    console.log(`    WARNING: other processes used ${num(r.cores.other, 2)} cores during this window (more than ${busyMachineCores}): the figures above understate ${r.system}.`);
  }
  if (r.calls) {
    console.log(
      `\n  ${who}: calls during the window (${num(r.windowMs / 1000, 2)} s), and how long the synchronous SQLite ones held the event loop\n${indent(
        formatTable(['call', 'calls', 'per message', 'total ms', 'of window', 'mean ms', 'max ms'], r.calls.rows(r.windowMs, r.messages)),
      )}`,
    );
    console.log(
      `\n  ${who}: time to answer, queued behind the pipeline's group commits and checkpoints\n${indent(
        formatTable(['call', 'calls', 'per message', 'p50 ms', 'p99 ms', 'max ms'], waitRows(r.calls, r.messages)),
      )}`,
    );
  }
  if (r.profileReport) console.log(`\n${r.profileReport}`);
}

function report(passes: PassResult[]): BenchmarkReport {
  const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${num(a / b, 2)}×` : '');
  const lostDoubled = (r: PassResult) => `${num(r.messages - r.sink.distinct)} / ${num(r.sink.received - r.sink.distinct)}`;
  const rows: SummaryRow[] = [];
  for (const transport of ['webhook', 'smtp'] as const) {
    const nudge = passes.find((p) => p.system === 'Nudge' && p.transport === transport);
    const floor = passes.find((p) => p.system === 'floor' && p.transport === transport);
    if (!nudge || !floor) continue;
    const label = transport === 'webhook' ? 'webhook' : 'SMTP';
    rows.push(
      { what: `${label} sends/s`, nudge: num(nudge.sendsPerS), floor: num(floor.sendsPerS), ratio: ratio(nudge.sendsPerS, floor.sendsPerS), target: '', met: null },
      { what: `${label} due→accepted p99`, nudge: ms(nudge.delays.p99), floor: ms(floor.delays.p99), ratio: ratio(nudge.delays.p99, floor.delays.p99), target: '', met: null },
      {
        what: `${label} lost / doubled`,
        nudge: lostDoubled(nudge),
        floor: lostDoubled(floor),
        ratio: '',
        target: '0 / 0',
        met: nudge.sink.distinct === nudge.messages && nudge.sink.received === nudge.messages,
      },
    );
  }
  console.log(`\n${formatTable(['', 'Nudge', 'floor', 'Nudge/floor', 'target'], rows.map((r) => [r.what, r.nudge, r.floor, r.ratio, r.met === null ? r.target : `${r.target} ${r.met ? 'met' : 'NOT met'}`]))}`);
  return { rows, failures: passes.flatMap((p) => p.failures) };
}
