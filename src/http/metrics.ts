/** Prometheus metrics, served at /metrics. One registry per server: no global state. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CommitStats } from '../engine/ingest-pipeline.js';

export class Metrics {
  readonly registry = new Registry();
  readonly eventsAccepted = new Counter({ name: 'nudge_ingest_events_accepted_total', help: 'Events committed.', labelNames: ['protocol'], registers: [this.registry] });
  readonly eventsDuplicate = new Counter({ name: 'nudge_ingest_events_duplicate_total', help: 'Events dropped as duplicates (messageId seen).', labelNames: ['protocol'], registers: [this.registry] });
  readonly eventsRefused = new Counter({ name: 'nudge_ingest_events_refused_total', help: 'Events refused as invalid.', labelNames: ['protocol'], registers: [this.registry] });
  readonly requestSeconds = new Histogram({
    name: 'nudge_ingest_request_duration_seconds',
    help: 'Ingestion request latency, from parsed body to committed.',
    labelNames: ['protocol'],
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [this.registry],
  });
  readonly groupSeconds = new Histogram({
    name: 'nudge_ingest_group_duration_seconds',
    help: 'Time from taking a group of requests to its events being stored (dedup, fold, append).',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
    registers: [this.registry],
  });
  readonly commitSeconds = new Histogram({
    name: 'nudge_store_commit_duration_seconds',
    help: "The store's append of one group (transaction and fsync).",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
    registers: [this.registry],
  });
  readonly commitGroupEvents = new Histogram({
    name: 'nudge_store_commit_events',
    help: 'Events per group commit.',
    buckets: [1, 10, 100, 500, 1000, 2000, 5000, 10000, 50000],
    registers: [this.registry],
  });
  readonly timerLateness = new Histogram({
    name: 'nudge_timer_lateness_seconds',
    help: 'How late each timer fired (fire time minus due time); timers due while the server was down count too.',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 10, 60, 3600],
    registers: [this.registry],
  });
  readonly up = new Gauge({ name: 'nudge_up', help: '1 while the server accepts events.', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'nudge_' });
  }

  recordCommit(stats: CommitStats): void {
    this.groupSeconds.observe(stats.durationMs / 1000);
    this.commitSeconds.observe(stats.storeMs / 1000);
    this.commitGroupEvents.observe(stats.events);
  }
}
