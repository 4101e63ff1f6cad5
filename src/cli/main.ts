#!/usr/bin/env node
/** The `nudge` command. */
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/config.js';
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

program.parseAsync().catch((error: unknown) => {
  if (error instanceof NudgeError) {
    console.error(`nudge: ${error.message}`);
    process.exit(2);
  }
  console.error(error);
  process.exit(1);
});
