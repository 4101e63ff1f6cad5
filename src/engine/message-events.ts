/**
 * What becomes of each message goes onto its user's timeline as a track event, like anything the
 * user does: triggers can wait for it (`wait_for: Message Clicked`), segments and reports can count
 * it, and the dashboard shows it beside the events that caused it.
 *
 * Names (`MessageEvent`): Message Sent (a provider accepted it), Message Delivered (the provider or
 * the page confirmed it arrived), Message Failed, Message Bounced, Message Opened, Message Clicked,
 * Message Dismissed, Message Feedback, Message Deferred (quiet hours), Message Capped (a frequency
 * cap), Message Suppressed (no consent, quiet hours with drop), Unsubscribed, Consent Updated.
 * Properties: `messageKey`, `triggerId`, `stepId`, `runId`, `channel`, `template`, `topic`, and
 * per outcome `reason`, `error`, `providerId`, `url` …
 *
 * Each event's messageId is derived from the message and the outcome (`nudge:<key>:<outcome>`), so
 * the same outcome reported twice (an email opened ten times, a click on the same link again, a
 * retry after a crash) is stored once within the dedup window. Events are gathered for a moment and
 * submitted together: a busy outbox adds one ingestion group, not one per message.
 */
import { EventType, type JsonObject, type NudgeEvent } from '../core/event.js';
import type { OutboundMessage } from '../core/triggers/state.js';
import type { Clock } from '../ports/clock.js';
import type { DeliveryResult } from '../ports/engine-store.js';
import { profilesByUser, type ProfilesOf } from './profiles-by-user.js';

export const MessageEvent = {
  sent: 'Message Sent',
  delivered: 'Message Delivered',
  failed: 'Message Failed',
  bounced: 'Message Bounced',
  opened: 'Message Opened',
  clicked: 'Message Clicked',
  dismissed: 'Message Dismissed',
  feedback: 'Message Feedback',
  deferred: 'Message Deferred',
  capped: 'Message Capped',
  suppressed: 'Message Suppressed',
  unsubscribed: 'Unsubscribed',
  consentUpdated: 'Consent Updated',
} as const;
export type MessageEvent = (typeof MessageEvent)[keyof typeof MessageEvent];

/** What identifies a message on the timeline. */
export interface MessageRef {
  key: string;
  profileId: string;
  triggerId: string;
  stepId?: string;
  runId?: string;
  template?: string;
  topic?: string;
}

export interface MessageEventsOptions {
  submit: (workspaceId: string, events: readonly NudgeEvent[]) => Promise<unknown>;
  profilesOf: ProfilesOf;
  clock: Clock;
  onError?: (error: unknown) => void;
}

interface Pending {
  workspaceId: string;
  profileId: string;
  name: string;
  messageId: string;
  properties: JsonObject;
  at: number;
  /** Counts as the user's activity; default: whether `name` is one of `userActions`. */
  active?: boolean;
}

/**
 * What the user did themselves (clicked, dismissed, gave feedback, unsubscribed): it counts as
 * activity (unless the caller says otherwise: an unsubscription a provider reported is not). The rest is what Nudge did (sent, deferred …) or what a machine may have done (an
 * email client fetching the open pixel): recorded with `context.active: false`, it moves neither
 * the user's "last seen" nor their session, so inactivity triggers are not fooled by it.
 */
const userActions: ReadonlySet<string> = new Set([MessageEvent.clicked, MessageEvent.dismissed, MessageEvent.feedback, MessageEvent.unsubscribed]);

export class MessageEvents {
  private pending: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private scheduled = false;

  constructor(private readonly options: MessageEventsOptions) {}

  /** Puts the dispatcher's final outcome of a message on the timeline. */
  outcome(workspaceId: string, message: OutboundMessage, outcome: string, at: number, result: DeliveryResult): void {
    const [status, detail] = outcome.split(':', 2) as [string, string | undefined];
    if (status === 'delivered') {
      this.record(workspaceId, message, MessageEvent.sent, { channel: detail ?? message.channel, ...(result.providerId ? { providerId: result.providerId } : {}) }, 'sent', at);
    } else if (status === 'failed') {
      const name = result.reason === 'bounced' ? MessageEvent.bounced : MessageEvent.failed;
      this.record(workspaceId, message, name, { channel: message.channel, reason: result.reason ?? 'failed', error: result.error ?? '' }, 'failed', at);
    } else if (status === 'suppressed') {
      const name = detail === 'capped' ? MessageEvent.capped : MessageEvent.suppressed;
      this.record(workspaceId, message, name, { channel: message.channel, reason: detail ?? '', detail: result.error ?? '' }, status, at);
    } else if (status === 'deferred') {
      this.record(workspaceId, message, MessageEvent.deferred, { channel: message.channel, reason: result.error ?? '', until: new Date(result.notBefore ?? at).toISOString() }, `deferred:${result.notBefore ?? at}`, at);
    }
  }

  /**
   * Puts one outcome of a message on its user's timeline. `outcome` names it for deduplication:
   * the same message and outcome are stored once (`clicked:0` for the first link, …).
   */
  record(workspaceId: string, message: MessageRef & { channel?: string }, name: string, properties: JsonObject, outcome: string, at = this.options.clock.now(), active?: boolean): void {
    this.push({
      ...(active === undefined ? {} : { active }),
      workspaceId,
      profileId: message.profileId,
      name,
      messageId: `nudge:${message.key}:${outcome}`,
      properties: {
        messageKey: message.key,
        triggerId: message.triggerId,
        ...(message.stepId === undefined ? {} : { stepId: message.stepId }),
        ...(message.runId === undefined ? {} : { runId: message.runId }),
        ...(message.template === undefined ? {} : { template: message.template }),
        ...(message.topic === undefined ? {} : { topic: message.topic }),
        ...(message.channel === undefined ? {} : { channel: message.channel }),
        ...properties,
      },
      at,
    });
  }

  /**
   * An event about the user that is not about one message (Unsubscribed, Consent Updated).
   * `active` overrides whether it counts as their activity (false: a provider reported it).
   */
  recordForUser(workspaceId: string, profileId: string, name: string, properties: JsonObject, messageId: string, at = this.options.clock.now(), active?: boolean): void {
    this.push({ workspaceId, profileId, name, messageId, properties, at, ...(active === undefined ? {} : { active }) });
  }

  /** Resolves once everything recorded so far has been submitted. */
  async flush(): Promise<void> {
    while (this.flushing || this.pending.length > 0) await this.submit();
  }

  private push(p: Pending): void {
    this.pending.push(p);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.submit();
    });
  }

  /** The submission under way, or a new one. (`finally` runs after the assignment, even when nothing is pending.) */
  private submit(): Promise<void> {
    this.flushing ??= this.submitPending().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async submitPending(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        const profiles = await profilesByUser(batch, this.options.profilesOf);
        const byWorkspace = new Map<string, NudgeEvent[]>();
        for (const p of batch) {
          const profile = profiles.get(`${p.workspaceId}/${p.profileId}`);
          if (!profile) continue; // erased meanwhile: nothing to put on a timeline that is gone
          const userId = profile.userId;
          const anonymousId = userId === null ? (profile.anonymousIds[0] ?? null) : null;
          if (userId === null && anonymousId === null) continue;
          const events = byWorkspace.get(p.workspaceId) ?? [];
          events.push({
            workspaceId: p.workspaceId,
            messageId: p.messageId,
            type: EventType.track,
            name: p.name,
            userId,
            anonymousId,
            previousId: null,
            groupId: null,
            properties: p.properties,
            traits: {},
            context: { library: { name: 'nudge' }, ...((p.active ?? userActions.has(p.name)) ? {} : { active: false }) },
            timestamp: p.at,
            receivedAt: p.at,
          });
          byWorkspace.set(p.workspaceId, events);
        }
        for (const [workspaceId, events] of byWorkspace) await this.options.submit(workspaceId, events);
      }
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}
