#!/usr/bin/env node
/** The `nudge` command. */
import { Command, InvalidArgumentError } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/config.js';
import { loadTriggers } from '../config/triggers.js';
import { NudgeError } from '../core/errors.js';
import { createNudge } from '../main.js';

const program = new Command();
program.name('nudge').description('Self-hosted behavioral trigger engine');

const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
};

program
  .command('serve')
  .description('Run the ingestion API, the management API and the engine')
  .option('-c, --config <file>', 'project config', './nudge.yaml')
  .option('-p, --port <port>', 'HTTP port (env PORT)', port, process.env['PORT'] ? port(process.env['PORT']) : 8787)
  .option('--host <host>', 'address to listen on (env HOST)', process.env['HOST'] ?? '127.0.0.1')
  .option('-d, --data <dir>', 'data directory (env NUDGE_DATA_DIR)', process.env['NUDGE_DATA_DIR'] ?? './.nudge')
  .action(async (opts: { config: string; port: number; host: string; data: string }) => {
    const config = loadConfig(opts.config);
    const nudge = await createNudge({ config, dataDir: opts.data, logger: { level: process.env['LOG_LEVEL'] ?? 'info' } });
    const url = await nudge.listen(opts.port, opts.host);
    const w = config.workspaces[0]!;
    console.log(`Nudge is listening on ${url}
  ingestion   POST ${url}/v1/batch   (write key "${w.writeKeys[0]}")
  management  ${url}/api/v1  (OpenAPI: ${url}/api/v1/openapi.json)
  health      ${url}/healthz   metrics ${url}/metrics
  data        ${opts.data}`);
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
  .description('Check nudge.yaml and the trigger files; problems are listed as file:line:column: field: message')
  .option('-c, --config <file>', 'project config', './nudge.yaml')
  .option('-t, --triggers <dir>', 'trigger folder (default: triggers/ beside the config)')
  .action((opts: { config: string; triggers?: string }) => {
    const config = loadConfig(opts.config);
    const dir = opts.triggers ?? config.triggers.dir;
    const { triggers, issues } = loadTriggers(dir);
    for (const issue of issues) console.error(`${issue.path}: ${issue.message}`);
    console.log(`${opts.config}: valid; ${triggers.length} trigger(s) valid in ${dir}${issues.length ? `, ${issues.length} problem(s)` : ''}`);
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

program.parseAsync().catch((error: unknown) => {
  if (error instanceof NudgeError) {
    if (error.issues.length > 0) for (const issue of error.issues) console.error(`${issue.path}: ${issue.message}`);
    else console.error(`nudge: ${error.message}`);
    process.exit(2);
  }
  console.error(error);
  process.exit(1);
});
