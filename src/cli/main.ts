#!/usr/bin/env node
/** The `nudge` command. */
import { Command, InvalidArgumentError } from 'commander';
import { accessSync, constants, createReadStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { loadConfig } from '../config/config.js';
import { checkTemplateCodes, checkTemplateReferences, loadTemplates } from '../config/templates.js';
import { loadTriggers } from '../config/triggers.js';
import { parseDuration } from '../core/duration.js';
import { ErrorCode, formatIssues, NudgeError } from '../core/errors.js';
import { defaultEventLimits, eventTypes, parseTime, type EventLimits, type EventType, type NudgeEvent } from '../core/event.js';
import { defaultProfileOptions } from '../core/profile.js';
import { buildCatalog } from '../core/triggers/catalog.js';
import { compileTrigger } from '../core/triggers/program.js';
import type { OutboundMessage } from '../core/triggers/state.js';
import { defaultDedupWindowMs, formatBacktestReport, runBacktest, UnorderedHistoryError, type BacktestOptions } from '../engine/backtest.js';
import { isObject } from '../http/protocols/common.js';
import { translateSegmentCall } from '../http/protocols/segment.js';
import { createNudge } from '../main.js';

const program = new Command();
program.name('nudge').description('Self-hosted behavioral trigger engine');

const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
};

const timeScale = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number (60: a minute of trigger time per second)');
  return n;
};

program
  .command('serve')
  .description('Run the ingestion API, the management API and the engine')
  .option('-c, --config <file>', 'project config', './nudge.yaml')
  .option('-p, --port <port>', 'HTTP port (env PORT)', port, process.env['PORT'] ? port(process.env['PORT']) : 8787)
  .option('--host <host>', 'address to listen on (env HOST)', process.env['HOST'] ?? '127.0.0.1')
  .option('-d, --data <dir>', 'data directory (env NUDGE_DATA_DIR)', process.env['NUDGE_DATA_DIR'] ?? './.nudge')
  .option('--time-scale <factor>', 'run time this many times faster, for demos: 60 = a minute per second (env NUDGE_TIME_SCALE)', timeScale, process.env['NUDGE_TIME_SCALE'] ? timeScale(process.env['NUDGE_TIME_SCALE']) : 1)
  .action(async (opts: { config: string; port: number; host: string; data: string; timeScale: number }) => {
    const config = loadConfig(opts.config);
    const nudge = await createNudge({ config, dataDir: opts.data, timeScale: opts.timeScale, logger: { level: process.env['LOG_LEVEL'] ?? 'info' } });
    const url = await nudge.listen(opts.port, opts.host);
    const w = config.workspaces[0]!;
    console.log(`Nudge is listening on ${url}
  ingestion   POST ${url}/v1/batch   (write key "${w.writeKeys[0]}")
  management  ${url}/api/v1  (OpenAPI: ${url}/api/v1/openapi.json)
  health      ${url}/healthz   metrics ${url}/metrics
  data        ${opts.data}`);
    if (config.demo) console.log(`  demo shop   ${url}/shop/   (its mail: ${url}/shop/mail)`);
    if (opts.timeScale !== 1) {
      console.log(`  time        ${opts.timeScale}x the wall clock: stored times run ahead of it, so keep ${opts.data} for scaled runs`);
    } else if (config.demo) {
      console.log('  tip         npm run demo (--time-scale 60 --data .nudge/demo) to see the triggers fire in seconds');
    }
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`${signal}: committing what was accepted and stopping`);
      await nudge.close();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  });

program
  .command('validate')
  .description('Check nudge.yaml, the trigger files and the templates they send; problems are listed as file:line:column: field: message')
  .option('-c, --config <file>', 'project config', './nudge.yaml')
  .option('-t, --triggers <dir>', 'trigger folder (default: triggers/ beside the config)')
  .option('--templates <dir>', 'template folder (default: templates/ beside the config)')
  .action((opts: { config: string; triggers?: string; templates?: string }) => {
    const config = loadConfig(opts.config);
    const dir = opts.triggers ?? config.triggers.dir;
    const { triggers, issues } = loadTriggers(dir);
    const templateDir = opts.templates ?? config.templates.dir;
    const loaded = loadTemplates(templateDir);
    // Without a template folder messages go out without content; with one, every send must find its parts.
    issues.push(...loaded.issues, ...(loaded.found ? checkTemplateReferences(triggers, loaded.templates, templateDir) : []));
    issues.push(...checkTemplateCodes(loaded.templates, new Set(config.codes.keys())));
    for (const issue of issues) console.error(`${issue.path}: ${issue.message}`);
    console.log(
      `${opts.config}: valid; ${triggers.length} trigger(s) valid in ${dir}; ${loaded.templates.size} template(s) valid in ${templateDir}${issues.length ? `; ${issues.length} problem(s)` : ''}`,
    );
    if (issues.length > 0) process.exitCode = 1;
  });

program
  .command('apply')
  .description('Validate the trigger files and apply them to a running server (PUT /api/v1/triggers/{id})')
  .option('-c, --config <file>', 'project config', './nudge.yaml')
  .option('-t, --triggers <dir>', 'trigger folder (default: from the config)')
  .option('-u, --url <url>', 'server address (env NUDGE_URL)', process.env['NUDGE_URL'] ?? `http://127.0.0.1:${process.env['PORT'] ?? 8787}`)
  .option('-k, --key <key>', 'admin key (env NUDGE_ADMIN_KEY; default: the first in the config)', process.env['NUDGE_ADMIN_KEY'])
  .option('--prune', 'also delete triggers the server has that the folder does not')
  .action(async (opts: { config: string; triggers?: string; url: string; key?: string; prune?: boolean }) => {
    const config = loadConfig(opts.config);
    const dir = opts.triggers ?? config.triggers.dir;
    const { triggers, issues } = loadTriggers(dir);
    for (const issue of issues) console.error(`${issue.path}: ${issue.message}`);
    if (issues.length > 0) {
      console.error(`nothing applied: ${issues.length} problem(s) in ${dir}`);
      process.exitCode = 1;
      return;
    }
    const key = opts.key ?? config.adminKeys[0]!;
    const call = async (method: string, route: string, body?: string) => {
      const response = await fetch(new URL(`/api/v1${route}`, opts.url), {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/yaml' }) },
        body,
      });
      const json = (await response.json()) as { message?: string; issues?: { path: string; message: string }[]; version?: string; items?: { id: string }[] };
      if (!response.ok) {
        for (const issue of json.issues ?? []) console.error(`${issue.path}: ${issue.message}`);
        throw new Error(`${method} ${route}: HTTP ${response.status}: ${json.message ?? ''}`);
      }
      return json;
    };
    for (const t of triggers) {
      const result = await call('PUT', `/triggers/${encodeURIComponent(t.definition.id)}`, readFileSync(t.file, 'utf8'));
      console.log(`applied ${t.definition.id} (version ${result.version}) from ${path.relative(process.cwd(), t.file)}`);
    }
    if (opts.prune) {
      const local = new Set(triggers.map((t) => t.definition.id));
      for (const { id } of (await call('GET', '/triggers')).items ?? []) {
        if (local.has(id)) continue;
        await call('DELETE', `/triggers/${encodeURIComponent(id)}`);
        console.log(`deleted ${id}`);
      }
    }
  });

const instant = (value: string): number => {
  const t = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(t)) throw new InvalidArgumentError('expected an ISO-8601 time (2026-03-03T09:00:00Z) or epoch milliseconds');
  return t;
};

const drain = (value: string): number => {
  if (value === 'all') return Infinity;
  const parsed = parseDuration(value);
  if (!parsed.ok) throw new InvalidArgumentError(`${parsed.message}, or "all"`);
  return parsed.ms;
};

/** Bad history lines printed at most; the rest are only counted. */
const maxReportedLines = 100;

interface HistoryReading {
  /** The line last read (1-based). */
  line: number;
  /** Bad lines skipped. */
  skipped: number;
  /** Lines already reported by an earlier pass over the same file, not to be printed again. */
  quietUpTo: number;
}

/**
 * A history file: one Segment-spec event per line (`type`, `event`, `userId`/`anonymousId`,
 * `properties`, `traits`, `context`, `timestamp`, `messageId`), translated as the Segment API
 * translates it. A line that cannot be used is reported as `file:line: field: message` and skipped.
 */
async function* readHistory(file: string, workspaceId: string, limits: EventLimits, reading: HistoryReading): AsyncGenerator<NudgeEvent> {
  const name = path.basename(file);
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const text of lines) {
    const line = ++reading.line;
    if (text.trim() === '') continue;
    const read = historyEvent(text, workspaceId, limits, `${name}:${line}`);
    if (typeof read !== 'string') {
      yield read;
      continue;
    }
    reading.skipped++;
    if (line <= reading.quietUpTo) continue;
    if (reading.skipped <= maxReportedLines) console.error(`${file}:${line}: ${read}`);
    else if (reading.skipped === maxReportedLines + 1) console.error(`${file}: more bad lines follow; only their number is reported`);
  }
}

/** One history line as an event, or what is wrong with it. */
function historyEvent(text: string, workspaceId: string, limits: EventLimits, lineId: string): NudgeEvent | string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return `not valid JSON (${(error as Error).message})`;
  }
  if (!isObject(raw)) return 'expected a JSON object (one Segment event)';
  const type = raw['type'];
  if (typeof type !== 'string' || !eventTypes.includes(type as EventType)) return `type: expected one of ${eventTypes.join(', ')}`;
  const happened = parseTime(raw['timestamp'] ?? raw['originalTimestamp']);
  if (happened === null) return 'timestamp: a history line needs the time the event happened';
  // A recorded event is already in event time: `sentAt` is not applied again, and the event counts
  // as received when it happened, so the future-skew check cannot refuse an old event.
  const { sentAt: _sentAt, ...body } = raw;
  const translation = translateSegmentCall(body, type as EventType, {
    workspaceId,
    receivedAt: happened,
    // A line without a messageId gets one that stays the same from run to run.
    newId: () => lineId,
    ...limits,
  });
  return translation.events[0] ?? formatIssues(translation.issues);
}

program
  .command('simulate')
  .description('Backtest: replay a history of events through the triggers on a simulated clock and report what they would have done')
  .requiredOption('-e, --events <file>', 'the history: one Segment-spec JSON event per line (NDJSON)')
  .option('-c, --config <file>', 'project config (default ./nudge.yaml; without one, --triggers and built-in defaults)')
  .option('-t, --triggers <dir>', 'trigger folder (default: from the config)')
  .option('-w, --workspace <id>', 'workspace of the events (default: the first in the config)')
  .option('--until <time>', 'after the last event, run the clock to this time (ISO-8601 or epoch ms), firing the timers due by then', instant)
  .option('--drain <duration>', 'after the last event, run the clock this much longer (e.g. 25h), or "all" to fire every pending timer', drain)
  .option('--json', 'print the report as JSON')
  .option('--messages <file>', 'also write every message that would be sent to this file, one JSON object per line')
  .action(async (opts: { events: string; config?: string; triggers?: string; workspace?: string; until?: number; drain?: number; json?: boolean; messages?: string }) => {
    if (opts.until !== undefined && opts.drain !== undefined) throw new NudgeError(ErrorCode.invalidInput, 'give --until or --drain, not both');
    const configFile = opts.config ?? (existsSync('nudge.yaml') ? 'nudge.yaml' : null);
    if (configFile === null && opts.triggers === undefined) {
      throw new NudgeError(ErrorCode.invalidInput, 'no ./nudge.yaml here: give --config, or --triggers to run with default settings');
    }
    const config = configFile === null ? null : loadConfig(configFile);
    const dir = opts.triggers ?? config!.triggers.dir;
    const { triggers, issues } = loadTriggers(dir);
    for (const issue of issues) console.error(`${issue.path}: ${issue.message}`);
    if (issues.length > 0 || triggers.length === 0) {
      console.error(`nothing simulated: ${issues.length > 0 ? `${issues.length} problem(s) in` : 'no trigger files in'} ${dir}`);
      process.exitCode = 1;
      return;
    }
    try {
      accessSync(opts.events, constants.R_OK);
    } catch (error) {
      throw new NudgeError(ErrorCode.invalidInput, `cannot read ${opts.events}: ${(error as Error).message}`);
    }

    const workspaceId = opts.workspace ?? config?.workspaces[0]!.id ?? 'default';
    const limits: EventLimits = config ? { maxEventBytes: config.ingest.maxEventBytes, maxFutureMs: config.ingest.maxFutureMs } : defaultEventLimits;
    const reading: HistoryReading = { line: 0, skipped: 0, quietUpTo: 0 };
    let messages: string[] = [];
    const options = (order: 'stream' | 'sort'): BacktestOptions => ({
      events: readHistory(opts.events, workspaceId, limits, reading),
      ...(opts.messages === undefined ? {} : { onSend: (m: OutboundMessage) => void messages.push(JSON.stringify(m)) }),
      catalog: buildCatalog(triggers.map((t) => compileTrigger(t.definition))),
      profileOptions: config?.profiles ?? defaultProfileOptions,
      workspaceId,
      dedupWindowMs: config?.ingest.dedupWindowMs ?? defaultDedupWindowMs,
      order,
      ...(opts.until === undefined ? {} : { until: opts.until }),
      ...(opts.drain === undefined ? {} : { drainMs: opts.drain }),
    });

    const started = performance.now();
    let report;
    try {
      // A history sorted by time streams through in one pass; one that is not is read again and sorted in memory.
      report = await runBacktest(options('stream'));
    } catch (error) {
      if (!(error instanceof UnorderedHistoryError)) throw error;
      console.error(`${opts.events}:${reading.line}: earlier than the event before it; the history is not sorted by time, so it is read again and sorted in memory`);
      Object.assign(reading, { quietUpTo: reading.line, line: 0, skipped: 0 });
      messages = [];
      report = await runBacktest(options('sort'));
    }
    if (opts.messages !== undefined) writeFileSync(opts.messages, messages.length === 0 ? '' : `${messages.join('\n')}\n`);
    const seconds = (performance.now() - started) / 1000;

    const history = { file: opts.events, lines: reading.line, skippedLines: reading.skipped };
    if (opts.json) {
      console.log(JSON.stringify({ history, seconds: Number(seconds.toFixed(3)), ...report }, null, 2));
      return;
    }
    const rate = report.events.read / Math.max(seconds, 1e-3);
    const title = `${opts.events}: ${history.lines.toLocaleString('en-US')} lines, ${history.skippedLines.toLocaleString('en-US')} skipped; replayed in ${seconds.toFixed(2)} s (${Math.round(rate).toLocaleString('en-US')} events/s)`;
    console.log(formatBacktestReport(report, title));
  });

program.parseAsync().catch((error: unknown) => {
  if (error instanceof NudgeError) {
    if (error.issues.length > 0) for (const issue of error.issues) console.error(`${issue.path}: ${issue.message}`);
    else console.error(`nudge: ${error.message}`);
    process.exit(2);
  }
  console.error(error);
  process.exit(1);
});
