/** Child processes under test: start one, wait until it listens, read its CPU and memory, stop it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  /** Base URL the process printed ("listening on http://…"). */
  url: string;
  /** Where its stdout and stderr go. */
  logFile: string;
}

/**
 * Spawns `node <args>` with stdout and stderr going to `logFile` (a pipe the parent does not read
 * could fill and stall the server) and resolves once the log shows `listening on <url>`.
 */
export async function startServer(args: string[], options: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<ServerProcess> {
  const fd = openSync(options.logFile, 'w');
  const child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.signalCode ?? child.exitCode})`);
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(readFileSync(options.logFile, 'utf8'));
      if (match) return { child, pid: child.pid!, url: match[1]!, logFile: options.logFile };
      await sleep(50);
    }
    throw new Error(`did not listen within ${options.timeoutMs ?? 30_000} ms`);
  } catch (error) {
    await stopChild(child);
    const log = readFileSync(options.logFile, 'utf8').slice(-2000);
    throw new Error(`node ${args.join(' ')}: ${(error as Error).message}\n${log}`);
  }
}

/** SIGTERM, then SIGKILL if the process has not exited after `graceMs`. Resolves once it is gone. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Resident set size and its peak, in bytes, from /proc. */
export function memoryOf(pid: number): { rssBytes: number; peakRssBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

/** CPU time (user + system, all threads) the process has used so far, in ms. */
export function cpuTimeMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1000) / clockTicksPerSecond;
}

// USER_HZ is 100 on every Linux build Node supports.
const clockTicksPerSecond = 100;

/** CPU time every process on the machine has used so far (all cores, steal included), in ms. */
export function machineBusyMs(): number {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  return (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1000) / clockTicksPerSecond;
}
