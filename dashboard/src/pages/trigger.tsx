/** One trigger: its numbers, its steps as a flow, its YAML (editable), on/off, and a backtest. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { count, percent } from '../format';
import { hrefWith, Link } from '../routes';
import { Backtest } from '../trigger/backtest';
import { YamlEditor } from '../trigger/editor';
import { Flow } from '../trigger/flow';
import type { TriggerDetail } from '../types';
import { Counts, ErrorNotice, Facts, Loading, Section, useApi, useTitle } from '../ui';
import { EnableToggle, exitedTotal, refreshMs, sentByChannel, WaitingByStep } from './triggers';

export function TriggerPage({ id }: { id: string }) {
  const detail = useApi<TriggerDetail>(`/triggers/${encodeURIComponent(id)}`, {}, refreshMs);
  const t = detail.data;
  useTitle(t?.name ?? id);
  const [draft, setDraft] = useState<string | null>(null);
  const saved = t?.source ?? '';
  // The draft follows the file until it is edited (also after a save, which may rewrite it slightly).
  const following = useRef(true);
  useEffect(() => {
    if (t?.source != null && (following.current || draft === null)) setDraft(t.source);
  }, [t?.source]);

  if (!t) {
    return (
      <>
        <h1>Trigger {id}</h1>
        <ErrorNotice error={detail.error} />
        {!detail.error && <Loading what="the trigger" />}
      </>
    );
  }
  const text = draft ?? saved;
  return (
    <>
      <div class="page-head">
        <div>
          <p class="crumbs">
            <Link href="/triggers">Triggers</Link> /
          </p>
          <h1>{t.name}</h1>
          <p class="muted small">
            <code>{t.id}</code> · version {t.version} · priority {t.priority} · <span title={t.file}>{t.file.split('/').pop()}</span>
          </p>
        </div>
        <EnableToggle trigger={t} onChange={detail.reload} />
      </div>
      <ErrorNotice error={detail.error} />
      <Facts
        items={[
          ['Entered', count(t.report.entered)],
          ['In flight', count(t.inFlight)],
          ['Waiting', <WaitingByStep trigger={t} />],
          ['Completed', count(t.report.completed)],
          ['Exited early', <span title={JSON.stringify(t.report.exited)}>{count(exitedTotal(t))}</span>],
          ['Goals', `${count(t.report.goals)} (${percent(t.report.goals, t.report.entered)})`],
          ['Sent', <Counts counts={sentByChannel(t)} empty="none" />],
          ['Outcomes', <Counts counts={t.report.deliveries} empty="none yet" />],
          ['Messages', <Link href={hrefWith('/messages', { triggerId: t.id })}>message log</Link>],
        ]}
      />
      <div class="columns">
        <Section title="Flow" id="flow-title">
          <Flow definition={t.definition} trigger={t} />
        </Section>
        <Section title="Definition" id="yaml-title">
          {t.source === null ? (
            <p class="notice warn">The trigger's file is gone; save to write it again.</p>
          ) : (
            <YamlEditor
              triggerId={t.id}
              saved={saved}
              draft={text}
              onDraft={(next) => {
                following.current = next === saved;
                setDraft(next);
              }}
              onSaved={() => {
                following.current = true;
                detail.reload();
              }}
            />
          )}
        </Section>
      </div>
      <Section title="Backtest" id="backtest-title">
        <Backtest triggerId={t.id} draft={text !== saved ? text : null} />
      </Section>
    </>
  );
}
