/**
 * Delivers the outbox: claims pending messages, hands each to the provider of its channel, and
 * records the outcome. A message is tried on its channel, then on each fallback in turn when a
 * channel fails for good (or keeps failing past `maxAttempts`); a failure that may pass is retried
 * later with exponential backoff. Claims are leases: messages a crashed process had claimed are
 * delivered by the next one once the lease ends (providers get a stable idempotency key, so a
 * receiver can drop the repeat of a delivery whose answer was lost).
 *
 *   pending --claim--> in flight --delivered--> delivered
 *                                --retry-----> pending (notBefore = now + backoff)
 *                                --failed on every channel--> failed
 */
import { decideDelivery, defaultDeliveryPolicy, historyWindowMs, orderForCaps, preferredFirst, type DeliveryPolicy, type PastSend } from '../core/delivery/policy.js';
import type { OutboundMessage } from '../core/triggers/state.js';
import type { Profile } from '../core/profile.js';
import type { ChannelProvider, DeliveryOutcome, FailureReason, RenderedContent } from '../ports/channel.js';
import type { Clock } from '../ports/clock.js';
import { userRefKey, type DeliveryResult, type EngineStore, type OutboxEntry } from '../ports/engine-store.js';
import type { Wakeup } from '../ports/wakeup.js';
import { profilesByUser, type ProfilesOf } from './profiles-by-user.js';

export interface DispatcherOptions {
  store: EngineStore;
  clock: Clock;
  wakeup: Wakeup;
  /** The provider of a channel name; none means the channel cannot deliver (its fallbacks are tried). */
  providerOf: (channel: string) => ChannelProvider | undefined;
  /**
   * Told what became of each message: `delivered:<channel>`, `failed`, `suppressed:<reason>` or
   * `deferred`, with the result recorded (its error, failure reason, provider id).
   */
  onOutcome?: (workspaceId: string, message: OutboundMessage, outcome: string, at: number, result: DeliveryResult) => void;
  onError?: (error: unknown) => void;
  /** Attempts on one channel before its fallbacks are tried. Default 5. */
  maxAttempts?: number;
  /** First retry delay, doubled each attempt up to an hour. Default 1,000 ms. */
  backoffMs?: number;
  /** Most messages being delivered at once. Default 256. */
  concurrency?: number;
  /** Default 60,000 ms. */
  leaseMs?: number;
  /** Consent, frequency caps and quiet hours, checked for each message as it is about to go out. Default: none. */
  policy?: DeliveryPolicy;
  /** The users' profiles (by profile id): the policy reads their `consent` trait and time zone, templates the rest. */
  usersOf?: ProfilesOf;
  /**
   * Renders a message's content for one channel. A failure (no part for the channel, a template
   * error) is permanent for that channel: the next fallback is tried. Default: empty content.
   */
  render?: (entry: OutboxEntry, channel: string, user: Profile | null) => Rendered | Promise<Rendered>;
}

export type Rendered = { ok: true; content: RenderedContent } | { ok: false; error: string };

/** A message the policy let through, with the channels it may use, in order. */
interface Cleared {
  entry: OutboxEntry;
  channels: string[];
  user: Profile | null;
}

const maxBackoffMs = 3_600_000;
/** Most messages claimed in one transaction. */
const claimBatch = 128;
/** Outcomes are recorded once this many have come back, or `settleDelayMs` after the first. */
const settleBatch = 64;
const settleDelayMs = 5;

/**
 * Deliveries overlap: messages are claimed while earlier ones are still on their way (up to
 * `concurrency` at once, topped up once half have come back), and outcomes are recorded in
 * groups, so one slow receiver does not hold up the rest and a busy outbox costs few
 * transactions (each is an fsync).
 */
export class Dispatcher {
  private stopped = true;
  private claiming: Promise<void> | null = null;
  private claimAgain = false;
  private inFlight = 0;
  /** Whether the outbox may hold entries due now that nobody claimed (see `claim`). */
  private mayHaveDue = true;
  private settled: { entry: OutboxEntry; result: DeliveryResult }[] = [];
  private settling: Promise<void> | null = null;
  private settleTimer: NodeJS.Timeout | null = null;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;
  private readonly concurrency: number;
  private idleWaiters: (() => void)[] = [];
  /** Slots promised to messages being committed already claimed (see `reserve`). */
  private reserved = 0;
  /** Messages on their way (not yet recorded as delivered), per user: they count against caps. */
  private readonly underway = new Map<string, PastSend[]>();

  constructor(private readonly options: DispatcherOptions) {
    this.maxAttempts = options.maxAttempts ?? 5;
    this.backoffMs = options.backoffMs ?? 1000;
    this.concurrency = options.concurrency ?? 256;
  }

  start(): void {
    this.stopped = false;
    this.kick();
  }

  /** Something new may be in the outbox. */
  kick(): void {
    this.mayHaveDue = true;
    this.claimAndArm();
  }

  private claimAndArm(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claiming = (async () => {
      do {
        this.claimAgain = false;
        try {
          await this.claim();
        } catch (error) {
          this.options.onError?.(error);
        }
      } while (this.claimAgain && !this.stopped);
      this.claiming = null;
      await this.arm();
      this.checkIdle();
    })();
  }

  /** How long a claim lasts; a message committed already claimed is leased for this long. */
  get leaseMs(): number {
    return this.options.leaseMs ?? 60_000;
  }

  /**
   * Reserves up to `n` delivery slots for messages about to be committed already claimed (the
   * engine hands its fresh sends over directly, saving a claim transaction and the wait for it);
   * returns how many were granted. Give back what is not used with `unreserve`.
   */
  reserve(n: number): number {
    if (this.stopped) return 0;
    const granted = Math.max(0, Math.min(n, this.concurrency - this.inFlight - this.reserved));
    this.reserved += granted;
    return granted;
  }

  unreserve(n: number): void {
    this.reserved -= n;
  }

  /** Delivers messages committed already claimed, in slots reserved for them. */
  deliverClaimed(entries: readonly OutboxEntry[]): void {
    this.reserved -= entries.length;
    this.dispatch(entries);
  }

  /** Resolves when nothing is being claimed, delivered or recorded. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.options.wakeup.clear();
    await this.idle();
  }

  private isIdle(): boolean {
    return this.claiming === null && this.inFlight === 0 && this.settling === null && this.settled.length === 0;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async claim(): Promise<void> {
    const { store, clock } = this.options;
    // Top up only once half the slots are free: claiming one message per returning delivery
    // would cost a transaction per message.
    if (this.inFlight + this.reserved > this.concurrency / 2) return;
    while (!this.stopped && this.inFlight + this.reserved < this.concurrency) {
      const want = Math.min(claimBatch, this.concurrency - this.inFlight - this.reserved);
      const claimed = await store.claimOutbox(clock.now(), want, this.leaseMs);
      this.dispatch(claimed);
      if (claimed.length < want) {
        // Nothing more is due now; a kick (new entries, a wake-up) or a retry says when that changes.
        this.mayHaveDue = false;
        return;
      }
    }
  }

  /** Takes slots for claimed messages, lets the policy decide each, and sends those it clears. */
  private dispatch(entries: readonly OutboxEntry[]): void {
    if (entries.length === 0) return;
    this.inFlight += entries.length;
    void this.clear(entries).then(
      (decisions) => {
        for (const d of decisions) {
          if ('status' in d.result) this.done(d.entry, d.result);
          else this.send(d.result);
        }
      },
      (error: unknown) => {
        this.options.onError?.(error);
        for (const entry of entries) this.done(entry, { key: entry.message.key, status: 'retry', error: String(error), notBefore: this.options.clock.now() + this.backoffMs });
      },
    );
  }

  private send(cleared: Cleared): void {
    const { entry } = cleared;
    void this.deliver(entry, cleared.channels, cleared.user).then(
      (result) => this.done(entry, result),
      (error: unknown) => this.done(entry, { key: entry.message.key, status: 'retry', error: String(error), notBefore: this.options.clock.now() + this.backoffMs }),
    );
  }

  /**
   * The policy's decision for each message: the channels it may go out on, or a result (suppressed,
   * deferred). Decided one after the other, the most important first, counting the messages
   * cleared before against the caps.
   */
  private async clear(entries: readonly OutboxEntry[]): Promise<{ entry: OutboxEntry; result: Cleared | DeliveryResult }[]> {
    const policy = this.options.policy ?? defaultDeliveryPolicy;
    const trivial = policy.caps.length === 0 && policy.quietHours === null && policy.defaultConsent === 'granted' && !this.options.usersOf;
    if (trivial) return entries.map((entry) => ({ entry, result: { entry, channels: [entry.message.channel, ...entry.message.fallback], user: null } }));

    const now = this.options.clock.now();
    const refs = new Map(entries.map((e) => [userRefKey({ workspaceId: e.workspaceId, profileId: e.message.profileId }), { workspaceId: e.workspaceId, profileId: e.message.profileId }]));
    const users = this.options.usersOf ? await profilesByUser(refs.values(), this.options.usersOf) : new Map<string, Profile>();
    const histories = new Map<string, PastSend[]>();
    const windowMs = historyWindowMs(policy);
    if (windowMs > 0) for (const [key, u] of refs) histories.set(key, await this.recentSends(u.workspaceId, u.profileId, now - windowMs));

    const ordered = orderForCaps(entries.map((entry) => ({ entry, priority: entry.message.priority, at: entry.message.at })));
    return ordered.map(({ entry }) => {
      const m = entry.message;
      const key = `${entry.workspaceId}/${m.profileId}`;
      const user = users.get(key);
      const underway = this.underway.get(key) ?? [];
      const history = [...(histories.get(key) ?? []), ...underway];
      const decisions = preferredFirst([m.channel, ...m.fallback], user?.traits['preferred_channel']).map((channel) => ({
        channel,
        decision: decideDelivery({ channel, topic: m.topic, triggerId: m.triggerId, consent: user?.traits['consent'], timezone: user?.computed.timezone ?? null, history, now }, policy),
      }));
      const allowed = decisions.filter((d) => d.decision.action === 'send').map((d) => d.channel);
      if (allowed.length > 0) {
        underway.push({ at: now, channel: allowed[0]!, triggerId: m.triggerId });
        this.underway.set(key, underway);
        return { entry, result: { entry, channels: allowed, user: user ?? null } };
      }
      const first = decisions[0]!.decision;
      if (first.action === 'defer') return { entry, result: { key: m.key, status: 'deferred', notBefore: first.until, error: first.reason } };
      const drop = decisions.map((d) => d.decision).find((d) => d.action === 'drop');
      return { entry, result: { key: m.key, status: 'suppressed', error: drop && drop.action === 'drop' ? `${drop.reason}: ${drop.detail}` : 'not allowed' } };
    });
  }

  /** The user's messages delivered since `since`, as caps count them. */
  private async recentSends(workspaceId: string, profileId: string, since: number): Promise<PastSend[]> {
    const page = await this.options.store.listOutbox(workspaceId, { profileId, status: 'delivered', limit: 1000 });
    return page.items.filter((e) => e.updatedAt > since).map((e) => ({ at: e.updatedAt, channel: e.deliveredVia ?? e.message.channel, triggerId: e.message.triggerId }));
  }

  private done(entry: OutboxEntry, result: DeliveryResult): void {
    this.inFlight--;
    this.settled.push({ entry, result });
    if (this.settled.length >= settleBatch || this.inFlight === 0) void this.settle();
    else if (!this.settleTimer) this.settleTimer = setTimeout(() => void this.settle(), settleDelayMs);
  }

  /** Records the outcomes that have come back, in one transaction; then claims more. */
  private settle(): Promise<void> {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    if (this.settling) return this.settling;
    this.settling = (async () => {
      while (this.settled.length > 0) {
        const batch = this.settled;
        this.settled = [];
        // A retry or a deferral is pending again, due now or later: claim, and wake up for it.
        if (batch.some((b) => b.result.status === 'retry' || b.result.status === 'deferred')) this.mayHaveDue = true;
        const now = this.options.clock.now();
        try {
          await this.options.store.settleOutbox(
            batch.map((b) => b.result),
            now,
          );
        } catch (error) {
          // Unrecorded outcomes: their claims run out and the messages are delivered again (same key).
          this.options.onError?.(error);
          continue;
        }
        for (const { entry, result } of batch) {
          this.release(entry);
          if (result.status === 'retry') continue;
          const outcome = result.status === 'delivered' ? `delivered:${result.via}` : result.status === 'suppressed' ? `suppressed:${(result.error ?? '').split(':')[0]}` : result.status;
          this.options.onOutcome?.(entry.workspaceId, entry.message, outcome, now, result);
        }
      }
      this.settling = null;
      // Slots are free again: claim more, unless the last claim found nothing due and nothing has
      // come since (the engine hands its fresh sends over, or kicks): a claim and a wake-up query
      // per settled batch cost more than the outcomes they follow.
      if (this.mayHaveDue) this.claimAndArm();
      this.checkIdle();
    })();
    return this.settling;
  }

  private async deliver(entry: OutboxEntry, channels: readonly string[], user: Profile | null): Promise<DeliveryResult> {
    const { message } = entry;
    const attempt = entry.attempts + 1;
    let lastError = '';
    let reason: FailureReason | undefined;
    for (const channel of channels) {
      const provider = this.options.providerOf(channel);
      if (!provider) {
        lastError = `no provider is configured for channel ${channel}`;
        continue;
      }
      const rendered = this.options.render ? await this.options.render(entry, channel, user) : { ok: true as const, content: {} };
      if (!rendered.ok) {
        lastError = `${channel}: ${rendered.error}`;
        continue;
      }
      let outcome: DeliveryOutcome;
      try {
        outcome = await provider.send({ workspaceId: entry.workspaceId, message, channel, content: rendered.content, idempotencyKey: message.key, attempt });
      } catch (error) {
        outcome = { status: 'retry', error: (error as Error).message };
      }
      if (outcome.status === 'delivered') return { key: message.key, status: 'delivered', via: channel, ...(outcome.providerId === undefined ? {} : { providerId: outcome.providerId }) };
      lastError = `${channel}: ${outcome.error}`;
      reason = outcome.status === 'failed' ? outcome.reason : undefined;
      if (outcome.status === 'retry' && attempt < this.maxAttempts) {
        const delay = outcome.retryAfterMs ?? Math.min(maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
        return { key: message.key, status: 'retry', error: lastError, notBefore: this.options.clock.now() + delay };
      }
      // Failed for good, or retried long enough: the next fallback.
    }
    return { key: message.key, status: 'failed', error: lastError, ...(reason === undefined ? {} : { reason }) };
  }

  /** A message is recorded: it is no longer counted as under way (the store has it, if delivered). */
  private release(entry: OutboxEntry): void {
    const key = `${entry.workspaceId}/${entry.message.profileId}`;
    const list = this.underway.get(key);
    if (!list) return;
    const i = list.findIndex((s) => s.triggerId === entry.message.triggerId);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.underway.delete(key);
  }

  private async arm(): Promise<void> {
    if (this.stopped) return;
    try {
      const next = await this.options.store.nextOutboxAt();
      if (next === null) this.options.wakeup.clear();
      else this.options.wakeup.set(next, () => this.kick());
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}
