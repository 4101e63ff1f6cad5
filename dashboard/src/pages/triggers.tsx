/**
 * The triggers in force with their live counters, refreshed every few seconds (entered, in flight,
 * waiting now by step, sent by channel, exited, goals); each can be switched on or off.
 */
import { useState } from 'preact/hooks';
import { call } from '../api';
import { count, percent } from '../format';
import { Link, triggerHref } from '../routes';
import type { Issue, TriggerSummary } from '../types';
import { Counts, ErrorNotice, Loading, useApi, useTitle } from '../ui';

export const refreshMs = 5000;

export function TriggersPage() {
  useTitle('Triggers');
  const list = useApi<{ items: TriggerSummary[]; issues: Issue[] }>('/triggers', {}, refreshMs);
  return (
    <>
      <h1>Triggers</h1>
      <ErrorNotice error={list.error} />
      {list.data && list.data.issues.length > 0 && (
        <div class="notice warn" role="status">
          <p>The trigger folder has problems; the triggers below are the last good ones:</p>
          <ul>
            {list.data.issues.map((i) => (
              <li key={i.path + i.message}>
                <code>{i.path}</code>: {i.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      {!list.data ? (
        <Loading what="triggers" />
      ) : list.data.items.length === 0 ? (
        <p>No triggers yet: add YAML files to the trigger folder, or PUT /api/v1/triggers/&lt;id&gt;.</p>
      ) : (
        <div class="scroll">
          <table class="data">
            <caption class="sr-only">Triggers and their counters since they were first applied</caption>
            <thead>
              <tr>
                <th scope="col">Trigger</th>
                <th scope="col">Entry event</th>
                <th scope="col" class="num">Entered</th>
                <th scope="col" class="num">In flight</th>
                <th scope="col">Waiting</th>
                <th scope="col">Sent</th>
                <th scope="col" class="num">Exited</th>
                <th scope="col" class="num">Goals</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((t) => (
                <TriggerRow key={t.id} trigger={t} onChange={list.reload} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

/** Messages sent by channel, over all steps. */
export function sentByChannel(t: TriggerSummary): Record<string, number> {
  const by: Record<string, number> = {};
  for (const s of t.report.sent) by[s.channel] = (by[s.channel] ?? 0) + s.count;
  return by;
}

export const exitedTotal = (t: TriggerSummary): number => Object.values(t.report.exited).reduce((a, b) => a + b, 0);

export const waitingTotal = (t: TriggerSummary): number => Object.values(t.report.waiting).reduce((a, b) => a + b, 0);

/** Runs waiting now: in all, then per step id, most first. */
export function WaitingByStep({ trigger: t }: { trigger: TriggerSummary }) {
  const steps = Object.entries(t.report.waiting).sort((a, b) => b[1] - a[1]);
  if (steps.length === 0) return <span class="muted">none</span>;
  return (
    <span>
      <strong>{count(waitingTotal(t))}</strong>{' '}
      <span class="muted small">
        (
        {steps.map(([stepId, n], i) => (
          <span key={stepId}>
            {i > 0 ? ', ' : ''}
            step {stepId}: {count(n)}
          </span>
        ))}
        )
      </span>
    </span>
  );
}

function TriggerRow({ trigger: t, onChange }: { trigger: TriggerSummary; onChange: () => void }) {
  const exited = exitedTotal(t);
  return (
    <tr>
      <th scope="row">
        <Link href={triggerHref(t.id)}>{t.name}</Link>
        {t.name !== t.id && <div class="muted small">{t.id}</div>}
      </th>
      <td>
        <code>{t.entry}</code>
      </td>
      <td class="num">{count(t.report.entered)}</td>
      <td class="num">{count(t.inFlight)}</td>
      <td>
        <WaitingByStep trigger={t} />
      </td>
      <td>
        <Counts counts={sentByChannel(t)} empty="none" />
      </td>
      <td class="num" title={Object.entries(t.report.exited).map(([r, n]) => `${r}: ${n}`).join(', ')}>
        {count(exited)}
      </td>
      <td class="num">
        {count(t.report.goals)} <span class="muted small">{percent(t.report.goals, t.report.entered)}</span>
      </td>
      <td>
        <EnableToggle trigger={t} onChange={onChange} />
      </td>
    </tr>
  );
}

/** Switches a trigger on or off (PATCH /triggers/{id}), which rewrites `enabled` in its file. */
export function EnableToggle({ trigger, onChange }: { trigger: Pick<TriggerSummary, 'id' | 'name' | 'enabled'>; onChange: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const toggle = async () => {
    setBusy(true);
    setError(null);
    try {
      await call(`/triggers/${encodeURIComponent(trigger.id)}`, { method: 'PATCH', body: { enabled: !trigger.enabled } });
      onChange();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="toggle">
      <span class={`badge ${trigger.enabled ? 'ok' : 'off'}`}>{trigger.enabled ? 'enabled' : 'disabled'}</span>{' '}
      <button type="button" class="small" disabled={busy} onClick={toggle} aria-label={`${trigger.enabled ? 'Disable' : 'Enable'} ${trigger.name}`}>
        {trigger.enabled ? 'Disable' : 'Enable'}
      </button>
      {error && (
        <span class="error small" role="alert">
          {' '}
          {error}
        </span>
      )}
    </span>
  );
}
