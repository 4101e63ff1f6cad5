/**
 * Events accepted and messages decided per second, over the last five minutes, updated every
 * second from GET /stats/live. The chart library is loaded with this page only; the numbers are
 * also given as text.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { count } from '../format';
import type { LiveStats } from '../types';
import { ErrorNotice, Facts, Loading, useApi, useTitle } from '../ui';
import type { LiveChart } from '../live-chart';

export function LivePage() {
  useTitle('Live');
  const stats = useApi<LiveStats>('/stats/live', { seconds: 300 }, 1000);
  const host = useRef<HTMLDivElement>(null);
  const chart = useRef<LiveChart | null>(null);
  const [chartError, setChartError] = useState<Error | null>(null);

  useEffect(() => {
    let cancelled = false;
    import('../live-chart').then(
      ({ LiveChart }) => {
        if (cancelled || !host.current) return;
        chart.current = new LiveChart(host.current);
        if (stats.data) chart.current.update(stats.data);
      },
      (error: Error) => setChartError(error),
    );
    return () => {
      cancelled = true;
      chart.current?.destroy();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    if (stats.data) chart.current?.update(stats.data);
  }, [stats.data]);

  const last = stats.data?.points.at(-1);
  return (
    <>
      <h1>Live</h1>
      <ErrorNotice error={stats.error ?? chartError} />
      {!stats.data ? (
        <Loading what="live numbers" />
      ) : (
        <Facts
          items={[
            ['Events per second', <span data-testid="events-per-second">{last ? last.eventsPerSecond : 0}</span>],
            ['Sends per second', <span data-testid="sends-per-second">{last ? last.sendsPerSecond : 0}</span>],
            ['Events accepted', count(stats.data.totals.events)],
            ['Messages decided', count(stats.data.totals.sends)],
          ]}
        />
      )}
      <figure class="chart">
        <div ref={host} role="img" aria-label="Chart of events and sends per second over the last five minutes" />
        <figcaption class="muted small">Per second, this server process since it started, all workspaces; one point a second.</figcaption>
      </figure>
    </>
  );
}
