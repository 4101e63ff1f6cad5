/**
 * The message log: what triggers decided to send, newest first, filtered by trigger, channel,
 * outcome, user and time (the filter is in the address); each message opens to show its content
 * as rendered for the channel it went out on.
 */
import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { call } from '../api';
import { dateTime, fromLocalInput, relative, toLocalInput } from '../format';
import { hrefWith, Link, navigate, triggerHref, userHref, useLocation } from '../routes';
import type { Issue, Message, MessageWithContent, Page, TriggerSummary } from '../types';
import { ErrorNotice, Loading, StatusBadge, useApi, useTitle } from '../ui';

const channels = ['in_app', 'push', 'email', 'sms', 'webhook'];
const statuses = ['pending', 'delivered', 'failed', 'suppressed'];
const filterNames = ['triggerId', 'channel', 'status', 'userId', 'since', 'until'] as const;
type Filter = Record<(typeof filterNames)[number], string>;

export function MessagesPage() {
  useTitle('Messages');
  const { search } = useLocation();
  const applied = Object.fromEntries(filterNames.map((n) => [n, search.get(n) ?? ''])) as Filter;
  const open = search.get('open');
  const appliedKey = JSON.stringify(applied);
  const [form, setForm] = useState<Filter>(applied);
  useEffect(() => setForm(applied), [appliedKey]);
  const triggers = useApi<{ items: TriggerSummary[]; issues: Issue[] }>('/triggers');

  const [log, setLog] = useState<{ items: Message[]; nextCursor: string | null; loading: boolean; error: Error | null; pages: number }>({
    items: [],
    nextCursor: null,
    loading: true,
    error: null,
    pages: 0,
  });
  const load = (cursor: string | null) => {
    setLog((l) => ({ ...l, loading: true, error: null }));
    call<Page<Message>>('/outbox', { query: { ...applied, limit: 50, cursor } }).then(
      (page) => setLog((l) => ({ items: cursor ? [...l.items, ...page.items] : page.items, nextCursor: page.nextCursor, loading: false, error: null, pages: cursor ? l.pages + 1 : 1 })),
      (error: Error) => setLog((l) => ({ ...l, loading: false, error })),
    );
  };
  useEffect(() => load(null), [appliedKey]);

  const set = (name: keyof Filter) => (e: Event) => setForm({ ...form, [name]: (e.currentTarget as HTMLInputElement).value });
  const submit = (e: Event) => {
    e.preventDefault();
    navigate(hrefWith('/messages', { ...form, userId: form.userId.trim() }));
  };
  const toggle = (key: string) => navigate(hrefWith('/messages', { ...applied, open: open === key ? undefined : key }), true);

  return (
    <>
      <h1>Messages</h1>
      <form class="filters" onSubmit={submit} aria-label="Filter messages">
        <label>
          Trigger
          <select value={form.triggerId} onChange={set('triggerId')}>
            <option value="">any</option>
            {triggers.data?.items.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Channel
          <select value={form.channel} onChange={set('channel')}>
            <option value="">any</option>
            {channels.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          Outcome
          <select value={form.status} onChange={set('status')}>
            <option value="">any</option>
            {statuses.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          User
          <input value={form.userId} onInput={set('userId')} placeholder="user or anonymous id" />
        </label>
        <label>
          From
          <input type="datetime-local" value={form.since ? toLocalInput(form.since) : ''} onInput={(e) => setForm({ ...form, since: fromLocalInput(e.currentTarget.value) ?? '' })} />
        </label>
        <label>
          To
          <input type="datetime-local" value={form.until ? toLocalInput(form.until) : ''} onInput={(e) => setForm({ ...form, until: fromLocalInput(e.currentTarget.value) ?? '' })} />
        </label>
        <button type="submit">Apply</button>
        <button type="button" class="quiet" onClick={() => navigate('/messages')}>
          Clear
        </button>
      </form>
      <ErrorNotice error={log.error} />
      {log.items.length > 0 && (
        <div class="scroll">
          <table class="data">
            <caption class="sr-only">Messages, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Decided</th>
                <th scope="col">User</th>
                <th scope="col">Trigger / step</th>
                <th scope="col">Channel</th>
                <th scope="col">Template</th>
                <th scope="col">Outcome</th>
                <th scope="col">
                  <span class="sr-only">Content</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {log.items.map((m) => (
                <Fragment key={m.key}>
                  <tr>
                    <td title={dateTime(m.createdAt)}>{relative(m.createdAt)}</td>
                    <td>
                      <Link href={userHref(m.profileId)}>{m.profileId}</Link>
                    </td>
                    <td>
                      <Link href={triggerHref(m.triggerId)}>{m.triggerId}</Link> <span class="muted">/ {m.stepId}</span>
                    </td>
                    <td>
                      {m.deliveredVia ?? m.channel}
                      {m.deliveredVia && m.deliveredVia !== m.channel && <span class="muted small"> (fallback from {m.channel})</span>}
                    </td>
                    <td>
                      <code>{m.template}</code>
                    </td>
                    <td>
                      <StatusBadge status={m.status} />
                      {m.attempts > 1 && <span class="muted small"> {m.attempts} attempts</span>}
                      {m.lastError && <div class="error small">{m.lastError}</div>}
                    </td>
                    <td>
                      <button type="button" class="small" aria-expanded={open === m.key} aria-controls={`content-${m.key}`} onClick={() => toggle(m.key)}>
                        {open === m.key ? 'Hide' : 'Content'}
                      </button>
                    </td>
                  </tr>
                  {open === m.key && (
                    <tr id={`content-${m.key}`}>
                      <td colSpan={7}>
                        <MessageContent messageKey={m.key} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {log.loading && <Loading what="messages" />}
      {!log.loading && log.items.length === 0 && !log.nextCursor && !log.error && <p>No messages match.</p>}
      {!log.loading && log.nextCursor && (
        <p>
          <button type="button" onClick={() => load(log.nextCursor)}>
            Load more
          </button>
          {log.items.length === 0 && <span class="muted small"> No match among the newest messages read so far; the log goes on.</span>}
        </p>
      )}
    </>
  );
}

function MessageContent({ messageKey }: { messageKey: string }) {
  const message = useApi<MessageWithContent>(`/outbox/${encodeURIComponent(messageKey)}`);
  const m = message.data;
  if (!m) return message.error ? <ErrorNotice error={message.error} /> : <Loading what="the content" />;
  const { parts, error, channel } = m.content;
  return (
    <div class="content-preview">
      <p class="muted small">
        Rendered for {channel} with the user's profile as it is now · due {dateTime(m.dueAt)} · key <code>{m.key}</code>
      </p>
      {error && <p class="notice error">{error}</p>}
      {parts && Object.keys(parts).length === 0 && <p class="muted">The template has no parts for {channel}: it goes out without content.</p>}
      {parts && Object.keys(parts).length > 0 && (
        <dl class="parts">
          {Object.entries(parts).map(([name, text]) => (
            <div key={name}>
              <dt>{name}</dt>
              <dd>
                <pre>{text}</pre>
              </dd>
            </div>
          ))}
        </dl>
      )}
    </div>
  );
}
