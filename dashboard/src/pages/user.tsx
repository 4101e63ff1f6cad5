/**
 * A user's profile: who they are (traits, identities), what they did (computed attributes), where
 * they are now (session, last page), what they agreed to (consent), the trigger runs they are in
 * with when each next step is due, and one timeline of their events and messages.
 */
import { count, dateTime, duration, plural, relative, shown } from '../format';
import { Link, triggerHref } from '../routes';
import type { Profile, Runs } from '../types';
import { Timeline } from '../user/timeline';
import { ErrorNotice, Facts, Loading, Section, useApi, useTitle } from '../ui';

const refreshMs = 2500;

export function UserPage({ id }: { id: string }) {
  useTitle(`User ${id}`);
  const profile = useApi<Profile>(`/users/${encodeURIComponent(id)}`, {}, refreshMs);
  const runs = useApi<Runs>(`/users/${encodeURIComponent(id)}/runs`, {}, refreshMs);
  const p = profile.data;
  return (
    <>
      <p class="crumbs">
        <Link href="/users">Users</Link> /
      </p>
      <h1>{p ? (p.userId ?? p.anonymousIds[0] ?? p.profileId) : id}</h1>
      <ErrorNotice error={profile.error} />
      {!p ? (
        !profile.error && <Loading what="the profile" />
      ) : (
        <>
          <p class="muted small">
            profile <code>{p.profileId}</code>
            {p.identities && (
              <>
                {' '}
                · identities {p.identities.map((i) => <code key={i}>{i} </code>)}
              </>
            )}
            · first seen {dateTime(p.computed.firstSeenAt)}
          </p>
          <div class="columns three">
            <Section title="Traits" id="traits-title">
              <TraitTable traits={p.traits} />
            </Section>
            <Section title="Behaviour" id="behaviour-title">
              <Behaviour profile={p} />
            </Section>
            <Section title="Consent" id="consent-title">
              <Consent consent={p.traits['consent']} />
            </Section>
          </div>
          <Section title="Trigger runs" id="runs-title">
            <ErrorNotice error={runs.error} />
            {runs.data ? <RunTable runs={runs.data} /> : <Loading what="runs" />}
          </Section>
          <Section title="Timeline" id="timeline-title">
            <Timeline userId={id} />
          </Section>
        </>
      )}
    </>
  );
}

function TraitTable({ traits }: { traits: Record<string, unknown> }) {
  const entries = Object.entries(traits).filter(([k]) => k !== 'consent');
  if (entries.length === 0) return <p class="muted">No traits yet (they come with identify calls).</p>;
  return <Facts items={entries.map(([k, v]) => [k, shown(v)])} />;
}

/** Active in a session now, or idle since when: the phase of their visit, from the computed attributes. */
function phaseOf(p: Profile, now = Date.now()): string {
  const s = p.computed.session;
  if (s && now - Date.parse(s.lastEventAt) < 30 * 60_000) return `in a session (${plural(s.eventCount, 'event')}, ${plural(s.pageCount, 'page')}, since ${relative(s.startedAt, now)})`;
  return `idle, last seen ${relative(p.computed.lastSeenAt, now)}`;
}

function Behaviour({ profile: p }: { profile: Profile }) {
  const c = p.computed;
  const events = Object.entries(c.events).sort((a, b) => b[1].count - a[1].count);
  return (
    <>
      <Facts
        items={[
          ...(c.phase ? ([['Phase', `${c.phase}${c.phaseSince ? ` since ${relative(c.phaseSince, Date.now())}` : ''}`]] as [string, string][]) : []),
          ['Now', phaseOf(p)],
          ['Events', count(c.eventCount)],
          ['Sessions', count(c.sessionCount)],
          ...(c.lastPage
            ? ([['Last page', `${c.lastPage.title ?? c.lastPage.path ?? c.lastPage.url ?? '–'}${c.lastPage.dwellMs !== null ? ` (${duration(c.lastPage.dwellMs)})` : ''}`]] as [string, string][])
            : []),
          ...Object.entries(c.totals).map(([k, v]): [string, string] => [`Total ${k}`, v.toLocaleString()]),
          ['Time zone', c.timezone ?? '–'],
          ['Locale', c.locale ?? '–'],
        ]}
      />
      {events.length > 0 && (
        <details>
          <summary>By event ({events.length})</summary>
          <table class="data compact">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col" class="num">Count</th>
                <th scope="col">Last</th>
              </tr>
            </thead>
            <tbody>
              {events.map(([name, s]) => (
                <tr key={name}>
                  <td>{name}</td>
                  <td class="num">{count(s.count)}</td>
                  <td title={s.lastAt}>{relative(s.lastAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </>
  );
}

/** The `consent` trait: booleans keyed by channel, topic or channel:topic; without one, the workspace's defaults apply. */
function Consent({ consent }: { consent: unknown }) {
  if (typeof consent !== 'object' || consent === null || Object.keys(consent).length === 0) {
    return <p class="muted">No choices recorded: the workspace's default consent applies (transactional messages always go out).</p>;
  }
  return (
    <Facts
      items={Object.entries(consent as Record<string, unknown>).map(([k, v]) => [
        k,
        v === true ? <span class="badge ok">granted</span> : v === false ? <span class="badge bad">refused</span> : shown(v),
      ])}
    />
  );
}

function RunTable({ runs }: { runs: Runs }) {
  if (runs.runs.length === 0 && runs.goalWindows.length === 0) return <p class="muted">In no trigger run.</p>;
  return (
    <>
      {runs.runs.length > 0 && (
        <table class="data compact">
          <caption class="sr-only">Runs in flight</caption>
          <thead>
            <tr>
              <th scope="col">Trigger</th>
              <th scope="col">Started</th>
              <th scope="col">Next step</th>
              <th scope="col">Sent steps</th>
              <th scope="col">Variants</th>
              <th scope="col">Goal</th>
            </tr>
          </thead>
          <tbody>
            {runs.runs.map((r) => (
              <tr key={r.runId}>
                <th scope="row">
                  <Link href={triggerHref(r.triggerId)}>{r.triggerId}</Link>
                </th>
                <td title={dateTime(r.startedAt)}>{relative(r.startedAt)}</td>
                <td>
                  {r.waiting ? (
                    <>
                      step {r.waiting.step} due <span title={dateTime(r.waiting.until)}>{relative(r.waiting.until)}</span>
                    </>
                  ) : (
                    <span class="muted">not waiting</span>
                  )}
                </td>
                <td>{r.sent.join(', ') || '–'}</td>
                <td>{Object.entries(r.variants).map(([e, v]) => `${e}=${v}`).join(', ') || '–'}</td>
                <td>{r.goalReached ? <span class="badge ok">reached</span> : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {runs.goalWindows.length > 0 && (
        <p class="small">
          Goal windows open:{' '}
          {runs.goalWindows.map((g) => (
            <span key={g.runId}>
              <Link href={triggerHref(g.triggerId)}>{g.triggerId}</Link> until {dateTime(g.until)}{' '}
            </span>
          ))}
        </p>
      )}
    </>
  );
}
