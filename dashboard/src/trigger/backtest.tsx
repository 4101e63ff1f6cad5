/**
 * The backtest form: a time range of the workspace's stored events (and, when the editor holds
 * unsaved changes, the choice of backtesting the draft), then what the trigger would have sent.
 */
import { useState } from 'preact/hooks';
import { ApiError, call } from '../api';
import { count, dateTime, fromLocalInput, toLocalInput } from '../format';
import { Link, userHref } from '../routes';
import type { BacktestResult, Issue } from '../types';
import { Counts, Facts } from '../ui';

const dayMs = 86_400_000;

export function Backtest({ triggerId, draft }: { triggerId: string; draft: string | null }) {
  const [since, setSince] = useState(() => toLocalInput(new Date(Date.now() - 7 * dayMs).toISOString()));
  const [until, setUntil] = useState(() => toLocalInput(new Date(Date.now() + 60_000).toISOString()));
  const [maxEvents, setMaxEvents] = useState(100_000);
  const [useDraft, setUseDraft] = useState(true);
  const [running, setRunning] = useState(false);
  const [result, setResult] = useState<BacktestResult | null>(null);
  const [error, setError] = useState<{ message: string; issues: readonly Issue[] } | null>(null);

  const run = async (e: Event) => {
    e.preventDefault();
    setRunning(true);
    setError(null);
    try {
      const body = { since: fromLocalInput(since), until: fromLocalInput(until), maxEvents, ...(draft !== null && useDraft ? { source: draft } : {}) };
      setResult(await call<BacktestResult>(`/triggers/${encodeURIComponent(triggerId)}/backtest`, { method: 'POST', body }));
    } catch (err) {
      setError({ message: (err as Error).message, issues: err instanceof ApiError ? err.issues : [] });
    } finally {
      setRunning(false);
    }
  };

  return (
    <>
      <form class="inline-form" onSubmit={run}>
        <label>
          From <input type="datetime-local" required value={since} onInput={(e) => setSince(e.currentTarget.value)} />
        </label>
        <label>
          To <input type="datetime-local" required value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
        </label>
        <label>
          At most{' '}
          <input type="number" min={1} max={1_000_000} step={1} required value={maxEvents} onInput={(e) => setMaxEvents(e.currentTarget.valueAsNumber)} class="narrow" /> events
        </label>
        {draft !== null && (
          <label>
            <input type="checkbox" checked={useDraft} onChange={(e) => setUseDraft(e.currentTarget.checked)} /> Use the unsaved draft
          </label>
        )}
        <button type="submit" disabled={running}>
          {running ? 'Running…' : 'Run backtest'}
        </button>
      </form>
      <p class="muted small">
        Replays the stored events of the range through this trigger alone, on a simulated clock. Profiles start empty at “From”; caps, quiet hours and consent apply
        when sending and are not simulated.
      </p>
      {error && (
        <div class="notice error" role="alert">
          <p>{error.message}</p>
          {error.issues.length > 0 && (
            <ul>
              {error.issues.map((i, n) => (
                <li key={n}>
                  {i.line ? `Line ${i.line}, column ${i.column}: ` : ''}
                  {i.field ? <code>{i.field}</code> : i.path}: {i.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {result && <BacktestReport result={result} />}
    </>
  );
}

function BacktestReport({ result: r }: { result: BacktestResult }) {
  const t = r.trigger;
  return (
    <div class="backtest-result" role="region" aria-label="Backtest result">
      {r.truncated && (
        <p class="notice warn">
          Stopped after {count(r.events.read)} events, at {r.lastEventAt ? dateTime(r.lastEventAt) : '–'}: later events were not replayed.
        </p>
      )}
      <Facts
        items={[
          ['Events replayed', `${count(r.events.applied)}${r.events.duplicates ? ` (${count(r.events.duplicates)} duplicates dropped)` : ''}`],
          ['Users', count(r.profiles)],
          ['Entered', count(t.entered)],
          ['Completed', count(t.completed)],
          ['Exited early', <Counts counts={t.exited} />],
          ['Goals', count(t.goals)],
          ['Still waiting', count(t.pendingTimers)],
          ['Would have sent', <strong>{count(r.messages)} messages</strong>],
          ['Took', `${r.seconds} s`],
        ]}
      />
      {t.messages.length > 0 && (
        <table class="data compact">
          <caption>Messages by step</caption>
          <thead>
            <tr>
              <th scope="col">Step</th>
              <th scope="col">Channel</th>
              <th scope="col">Template</th>
              <th scope="col">Variant</th>
              <th scope="col" class="num">Messages</th>
            </tr>
          </thead>
          <tbody>
            {t.messages.map((m) => (
              <tr key={`${m.stepId}/${m.channel}/${m.variant}`}>
                <td>{m.stepId}</td>
                <td>{m.channel}</td>
                <td>
                  <code>{m.template}</code>
                </td>
                <td>{m.variant || '–'}</td>
                <td class="num">{count(m.count)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {r.sample.length > 0 && (
        <table class="data compact">
          <caption>
            What would have been sent{r.sample.length < r.messages ? ` (the first ${r.sample.length} of ${count(r.messages)})` : ''}
          </caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">User</th>
              <th scope="col">Step</th>
              <th scope="col">Channel</th>
              <th scope="col">Template</th>
            </tr>
          </thead>
          <tbody>
            {r.sample.map((m) => (
              <tr key={`${m.runId}/${m.profileId}/${m.stepId}`}>
                <td>{dateTime(m.dueAt)}</td>
                <td>
                  <Link href={userHref(m.profileId)}>{m.profileId}</Link>
                </td>
                <td>{m.stepId}</td>
                <td>{m.channel}</td>
                <td>
                  <code>{m.template}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {r.messages === 0 && <p>No messages would have been sent over these events.</p>}
    </div>
  );
}
