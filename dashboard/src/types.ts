/** The management API's bodies, as the dashboard reads them (see /api/v1/openapi.json). */

export interface Issue {
  path: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
  field?: string | null;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Workspace {
  id: string;
  name: string;
  events: number;
  profiles: number;
}

export interface EventStats {
  count: number;
  firstAt: string;
  lastAt: string;
  sums: Record<string, number>;
}

export interface Profile {
  workspace: string;
  profileId: string;
  userId: string | null;
  anonymousIds: string[];
  identities?: string[];
  traits: Record<string, unknown>;
  computed: {
    firstSeenAt: string;
    lastSeenAt: string;
    eventCount: number;
    events: Record<string, EventStats>;
    totals: Record<string, number>;
    sessionCount: number;
    session: { id: string; startedAt: string; lastEventAt: string; eventCount: number; pageCount: number } | null;
    lastPage: { url: string | null; path: string | null; title: string | null; name: string | null; enteredAt: string; dwellMs: number | null } | null;
    /** The behavioral phase (nudge.yaml `phases`) as of now, and since when; null without phases. */
    phase: string | null;
    phaseSince: string | null;
    timezone: string | null;
    locale: string | null;
  };
  createdAt: string;
  updatedAt: string;
}

export interface StoredEvent {
  messageId: string;
  type: string;
  name: string;
  profileId: string;
  userId: string | null;
  anonymousId: string | null;
  timestamp: string;
  receivedAt: string;
  properties: Record<string, unknown>;
  traits: Record<string, unknown>;
  context: Record<string, unknown>;
}

export type OutboxStatus = 'pending' | 'delivered' | 'failed' | 'suppressed';

export interface Message {
  key: string;
  status: OutboxStatus;
  channel: string;
  fallback: string[];
  deliveredVia: string | null;
  template: string;
  profileId: string;
  triggerId: string;
  runId: string;
  stepId: string;
  variants: Record<string, string>;
  attempts: number;
  lastError: string | null;
  dueAt: string;
  createdAt: string;
  updatedAt: string;
}

export interface MessageWithContent extends Message {
  content: { channel: string; parts: Record<string, string> | null; error: string | null };
}

export interface TriggerReport {
  entered: number;
  completed: number;
  goals: number;
  exited: Record<string, number>;
  assigned: Record<string, number>;
  goalsByVariant: Record<string, number>;
  sent: { stepId: string; channel: string; variant: string; count: number }[];
  deliveries: Record<string, number>;
  /** Runs waiting now, by step id (wait and wait_for steps; runs on older versions included); steps where none wait are absent. */
  waiting: Record<string, number>;
}

export interface StepCounts {
  sent: Record<string, number>;
  outcomes: Record<string, number>;
}

export interface TriggerSummary {
  id: string;
  name: string;
  version: string;
  enabled: boolean;
  priority: number;
  file: string;
  entry: string;
  report: TriggerReport;
  inFlight: number;
  steps: Record<string, StepCounts>;
}

export interface EventMatch {
  event: string;
  when?: string;
}

export type StepDefinition =
  | { id?: string; send: string; template: string; fallback?: string[]; topic?: string }
  | { id?: string; wait: string | { until: string } }
  | { id?: string; wait_for: EventMatch[]; timeout: string; lookback?: string; on_event?: StepDefinition[]; on_timeout?: StepDefinition[] }
  | { id?: string; branch: ({ when: string; steps: StepDefinition[] } | { else: StepDefinition[] })[] }
  | { id?: string; experiment: { id: string; holdout?: number; variants: { name: string; weight?: number; steps: StepDefinition[] }[] } };

export interface TriggerDefinition {
  id: string;
  name?: string;
  enabled?: boolean;
  entry: EventMatch;
  reentry?: string;
  exit_on?: EventMatch[];
  goal?: { event: string; when?: string; within: string };
  steps: StepDefinition[];
}

export interface TriggerDetail extends TriggerSummary {
  definition: TriggerDefinition;
  source: string | null;
}

export interface SaveResult {
  id: string;
  version: string;
  applied: boolean;
  issues: Issue[];
}

export interface Run {
  runId: string;
  triggerId: string;
  version: string;
  startedAt: string;
  waiting: { step: string; until: string } | null;
  variants: Record<string, string>;
  sent: string[];
  goalReached: boolean;
}

export interface Runs {
  profileId: string;
  runs: Run[];
  goalWindows: { triggerId: string; runId: string; until: string }[];
}

export interface BacktestResult {
  trigger: {
    id: string;
    entered: number;
    completed: number;
    exited: Record<string, number>;
    goals: number;
    messages: { stepId: string; channel: string; template: string; variant: string; count: number }[];
    pendingTimers: number;
    pendingByStep: Record<string, number>;
  };
  since: string;
  until: string;
  truncated: boolean;
  events: { read: number; applied: number; duplicates: number };
  firstEventAt: string | null;
  lastEventAt: string | null;
  profiles: number;
  messages: number;
  sample: { profileId: string; runId: string; stepId: string; channel: string; template: string; variants: Record<string, string>; dueAt: string }[];
  seconds: number;
}

export interface LiveStats {
  intervalMs: number;
  totals: { events: number; sends: number };
  points: { at: string; eventsPerSecond: number; sendsPerSecond: number }[];
}
