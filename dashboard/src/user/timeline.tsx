/**
 * One timeline of what a user did and what was sent to them, newest first: their events
 * (GET /users/{id}/events) and the messages triggers decided for them (GET /outbox?userId=),
 * merged by time. Both are paged; an item is shown only once neither listing can still hold
 * something newer, so the merge never skips. Message outcomes — the `Message …` events the
 * delivery side records, with `properties.messageKey` — are drawn as outcomes of their message.
 * New items are looked for every few seconds.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { call } from '../api';
import { dateTime, relative, shown } from '../format';
import { hrefWith, Link, triggerHref } from '../routes';
import type { Message, Page, StoredEvent } from '../types';
import { ErrorNotice, StatusBadge } from '../ui';

const pageSize = 50;
const pollMs = 2500;

type Item = { kind: 'event'; at: number; id: string; event: StoredEvent } | { kind: 'message'; at: number; id: string; message: Message };

interface Stream {
  items: Item[];
  cursor: string | null;
  done: boolean;
}

const emptyStream = (): Stream => ({ items: [], cursor: null, done: false });

const eventItem = (event: StoredEvent): Item => ({ kind: 'event', at: Date.parse(event.timestamp), id: `e:${event.messageId}`, event });
const messageItem = (message: Message): Item => ({ kind: 'message', at: Date.parse(message.createdAt), id: `m:${message.key}`, message });

export function Timeline({ userId }: { userId: string }) {
  const [events, setEvents] = useState<Stream>(emptyStream);
  const [messages, setMessages] = useState<Stream>(emptyStream);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const streams = useRef({ events, messages });
  streams.current = { events, messages };

  const readEvents = (cursor: string | null, limit = pageSize) =>
    call<Page<StoredEvent>>(`/users/${encodeURIComponent(userId)}/events`, { query: { limit, cursor } }).then((p) => ({ items: p.items.map(eventItem), cursor: p.nextCursor }));
  const readMessages = (cursor: string | null, limit = pageSize) =>
    call<Page<Message>>('/outbox', { query: { userId, limit, cursor } }).then((p) => ({ items: p.items.map(messageItem), cursor: p.nextCursor }));

  const older = async (reset: boolean) => {
    setLoading(true);
    try {
      const current = reset ? { events: emptyStream(), messages: emptyStream() } : streams.current;
      const [e, m] = await Promise.all([
        current.events.done ? null : readEvents(current.events.cursor),
        current.messages.done ? null : readMessages(current.messages.cursor),
      ]);
      if (e) setEvents({ items: [...current.events.items, ...e.items], cursor: e.cursor, done: e.cursor === null });
      if (m) setMessages({ items: [...current.messages.items, ...m.items], cursor: m.cursor, done: m.cursor === null });
      setError(null);
      setUpdatedAt(Date.now());
    } catch (err) {
      setError(err as Error);
    } finally {
      setLoading(false);
    }
  };

  /** Adds what is new at the top; messages already shown get their new status. Too much new: starts again. */
  const newer = async () => {
    try {
      const [e, m] = await Promise.all([readEvents(null, 20), readMessages(null, 20)]);
      const { events: ev, messages: ms } = streams.current;
      const knownEvents = new Set(ev.items.map((i) => i.id));
      const freshEvents = e.items.filter((i) => !knownEvents.has(i.id));
      const knownMessages = new Map(ms.items.map((i) => [i.id, i]));
      const freshMessages = m.items.filter((i) => !knownMessages.has(i.id));
      if ((freshEvents.length === 20 && ev.items.length > 0) || (freshMessages.length === 20 && ms.items.length > 0)) return older(true);
      const updated = new Map(m.items.map((i) => [i.id, i]));
      if (freshEvents.length > 0) setEvents(ev.items.length === 0 ? { items: e.items, cursor: e.cursor, done: e.cursor === null } : { ...ev, items: [...freshEvents, ...ev.items] });
      setMessages(ms.items.length === 0 ? { items: m.items, cursor: m.cursor, done: m.cursor === null } : { ...ms, items: [...freshMessages, ...ms.items.map((i) => updated.get(i.id) ?? i)] });
      setError(null);
      setUpdatedAt(Date.now());
    } catch (err) {
      setError(err as Error);
    }
  };

  useEffect(() => {
    void older(true);
    const timer = setInterval(() => void newer(), pollMs);
    return () => clearInterval(timer);
  }, [userId]);

  // Shown: everything at or after the oldest item loaded of each listing that has more.
  const frontier = Math.max(
    ...[events, messages].filter((s) => !s.done && s.items.length > 0).map((s) => s.items[s.items.length - 1]!.at),
    -Infinity,
  );
  const items = [...events.items, ...messages.items].filter((i) => i.at >= frontier).sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1));
  const more = !events.done || !messages.done;

  return (
    <div>
      <ErrorNotice error={error} />
      <p class="muted small" role="status" aria-live="off">
        {items.length} item(s){updatedAt ? ` · checked ${new Date(updatedAt).toLocaleTimeString()}, updates every few seconds` : ''}
      </p>
      {items.length === 0 && !loading && <p>Nothing yet.</p>}
      <ol class="timeline" aria-label="Timeline, newest first">
        {items.map((item) => (
          <li key={item.id} class={`tl-${item.kind === 'message' ? 'message' : outcomeOf(item.event) ? 'outcome' : 'event'}`}>
            <time dateTime={new Date(item.at).toISOString()} title={dateTime(new Date(item.at).toISOString())}>
              {relative(new Date(item.at).toISOString())}
            </time>
            {item.kind === 'event' ? <EventEntry event={item.event} /> : <MessageEntry message={item.message} />}
          </li>
        ))}
      </ol>
      {more && (
        <p>
          <button type="button" disabled={loading} onClick={() => void older(false)}>
            {loading ? 'Loading…' : 'Load older'}
          </button>
        </p>
      )}
    </div>
  );
}

/** A `Message …` event (or Unsubscribed, Consent Updated) recorded by the delivery side. */
function outcomeOf(event: StoredEvent): { label: string; key: string | null } | null {
  if (event.type !== 'track') return null;
  const key = typeof event.properties['messageKey'] === 'string' ? event.properties['messageKey'] : null;
  if (event.name.startsWith('Message ') && key) return { label: event.name.slice('Message '.length), key };
  if (event.name === 'Unsubscribed' || event.name === 'Consent Updated') return { label: event.name, key };
  return null;
}

const outcomeDetails = ['channel', 'reason', 'error', 'url', 'template'];

function EventEntry({ event }: { event: StoredEvent }) {
  const outcome = outcomeOf(event);
  if (outcome) {
    const p = event.properties;
    return (
      <div class="tl-body">
        <span class={`badge ${/fail|bounce|suppress|cap|unsub/i.test(outcome.label) ? 'bad' : 'ok'}`}>{outcome.label}</span>{' '}
        {typeof p['triggerId'] === 'string' && (
          <>
            message of <Link href={triggerHref(p['triggerId'])}>{p['triggerId']}</Link>
            {typeof p['stepId'] === 'string' && <> step {p['stepId']}</>}{' '}
          </>
        )}
        {outcomeDetails
          .filter((k) => p[k] !== undefined)
          .map((k) => (
            <span key={k} class="prop">
              {k}: {shown(p[k])}
            </span>
          ))}
      </div>
    );
  }
  const label = event.type === 'track' ? event.name : `${event.type}${event.name ? `: ${event.name}` : ''}`;
  const props = Object.entries(event.type === 'identify' ? event.traits : event.properties);
  return (
    <div class="tl-body">
      <strong>{label}</strong>{' '}
      {props.slice(0, 4).map(([k, v]) => (
        <span key={k} class="prop">
          {k}: {shown(v)}
        </span>
      ))}
      <details>
        <summary>details</summary>
        <pre>{JSON.stringify({ messageId: event.messageId, userId: event.userId, anonymousId: event.anonymousId, properties: event.properties, traits: event.traits, context: event.context }, null, 2)}</pre>
      </details>
    </div>
  );
}

function MessageEntry({ message: m }: { message: Message }) {
  return (
    <div class="tl-body">
      <span class="tl-tag">Message</span> <code>{m.template}</code> via {m.deliveredVia ?? m.channel} <StatusBadge status={m.status} />{' '}
      <span class="muted">
        from <Link href={triggerHref(m.triggerId)}>{m.triggerId}</Link> step {m.stepId}
      </span>{' '}
      {m.lastError && <span class="error small">{m.lastError}</span>}{' '}
      <Link href={hrefWith('/messages', { userId: m.profileId, open: m.key })} class="small">
        content
      </Link>
    </div>
  );
}
